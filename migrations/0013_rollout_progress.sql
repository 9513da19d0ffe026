-- What a running rollout's step is doing now (the image being pulled, how
-- far), for the Updates page; cleared when the step ends.
ALTER TABLE rollouts ADD COLUMN progress TEXT;
