//! One JSON decoder for everything the browser receives. A server function's
//! reply is decoded from bytes (`serde_json::from_slice`), Leptos' default
//! resource codec decodes the data sent with the page from a `&str`
//! (`from_str`): two readers, so the wasm bundle carried every page type's
//! deserializer twice. Page data ([`page_data`]) and live messages
//! ([`decode`]) go through the byte reader too, so each type's is built once.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Leptos' JSON codec for resources, decoding with the byte reader.
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// A page's data: loaded with the page on the server, sent along with it,
/// fetched again in the browser when `source` changes.
#[track_caller]
pub fn page_data<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, Json>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// A live message (a server-sent event's data), decoded like a reply.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_slice(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_data_and_live_messages_decode_the_same_json() {
        let text = r#"{"kind":"x","n":[1,2]}"#;
        #[derive(serde::Deserialize, Serialize, Debug, PartialEq)]
        struct Row {
            kind: String,
            n: Vec<u8>,
        }
        let want = Row {
            kind: "x".into(),
            n: vec![1, 2],
        };
        assert_eq!(<Json as Decoder<Row>>::decode(text).unwrap(), want);
        assert_eq!(decode::<Row>(text).unwrap(), want);
        assert_eq!(<Json as Encoder<Row>>::encode(&want).unwrap(), text);
        assert!(decode::<Row>("{").is_err());
    }
}
