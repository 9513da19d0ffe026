// The wasm bundle comes in chunks (one set per page, fetched as the page
// loads). A chunk fetch that fails on a network blip (a dropped
// connection, Chrome's ERR_NETWORK_CHANGED) is tried again, four times
// over about three seconds, instead of leaving the page without its code.
(() => {
  const once = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/pkg/')) {
      return once(input, init);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return await once(input, init);
      } catch (e) {
        if (attempt >= 4) throw e;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  };
})();
