//! Hydrates the server-rendered Burrow pages in the browser.

// The console's view types nest deeply; their layouts need more than 128.
#![recursion_limit = "512"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
