//! Burrow's own CA and checks of an uploaded certificate.
