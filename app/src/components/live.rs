//! Server-Sent Events in the browser: subscribe to named events of a URL
//! while the component lives. Does nothing on the server, so pages render
//! complete without JavaScript and turn live once hydrated.

/// Calls `on(event_name, data)` for each event named in `names` from `url`.
/// The connection closes when the calling component is cleaned up.
#[allow(unused_variables)]
pub fn subscribe(
    url: impl Fn() -> Option<String> + 'static,
    names: &'static [&'static str],
    on: impl Fn(&str, String) + Clone + 'static,
) {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    {
        use leptos::prelude::*;
        use send_wrapper::SendWrapper;
        use std::cell::RefCell;
        use std::rc::Rc;
        use wasm_bindgen::prelude::*;
        use wasm_bindgen::JsCast;

        let current: Rc<RefCell<Option<web_sys::EventSource>>> = Rc::new(RefCell::new(None));
        let keep = SendWrapper::new(current.clone());
        Effect::new(move |_| {
            if let Some(old) = current.borrow_mut().take() {
                old.close();
            }
            let Some(url) = url() else { return };
            let Ok(source) = web_sys::EventSource::new(&url) else {
                return;
            };
            for name in names {
                let on = on.clone();
                let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                    move |e: web_sys::MessageEvent| {
                        if let Some(data) = e.data().as_string() {
                            on(name, data);
                        }
                    },
                );
                let _ =
                    source.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
                handler.forget();
            }
            *current.borrow_mut() = Some(source);
        });
        on_cleanup(move || {
            if let Some(source) = keep.take().borrow_mut().take() {
                source.close();
            }
        });
    }
}

/// A count of whole seconds since the calling component was hydrated,
/// stepping once a second in the browser and staying 0 on the server; the
/// interval stops when the component is cleaned up. Lets a page age what it
/// was told (uptimes) between live updates.
pub fn seconds_ticker() -> leptos::prelude::RwSignal<u64> {
    use leptos::prelude::*;
    let ticks = RwSignal::new(0u64);
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    {
        if let Ok(handle) = set_interval_with_handle(
            move || ticks.update(|t| *t += 1),
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    ticks
}

/// Without JavaScript, reloads the page every 2 seconds while `what` runs
/// (a meta refresh inside `<noscript>`). The refresh is the element's inner
/// HTML, which a browser running scripts keeps as text, also when the page
/// renders it itself after a client-side update: a hydrated page, which
/// follows the work live, is never reloaded by it.
#[leptos::component]
pub fn NoScriptReload(what: &'static str) -> impl leptos::IntoView {
    use leptos::prelude::*;
    let html = format!(
        "<meta http-equiv=\"refresh\" content=\"2\"><p class=\"muted\">This page reloads every \
         2 seconds until {what} ends.</p>"
    );
    view! { <noscript inner_html=html></noscript> }
}
