//! LiveKit's server API as far as Burrow uses it, with LiveKit's own
//! rules: access tokens are HS256 JWTs signed with one of the `keys`
//! (`iss` = the key, `exp`/`nbf` checked), `GET /rtc?access_token=...`
//! joins the room its `video.room` grant names (needs `roomJoin`) for as
//! long as the WebSocket stays open, and the Twirp call
//! `POST /twirp/livekit.RoomService/ListRooms` (needs `roomList`) lists the
//! rooms with their participant counts, as protojson (zero counts left
//! out, like LiveKit's).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::http::{Request, Response};

/// Rooms with someone in them: name -> participants.
#[derive(Default, Clone)]
pub struct Rooms(Arc<Mutex<BTreeMap<String, u32>>>);

/// One participant in a room; leaves when dropped (the WebSocket closed).
pub struct Presence {
    rooms: Rooms,
    room: String,
}

impl Drop for Presence {
    fn drop(&mut self) {
        if let Ok(mut rooms) = self.rooms.0.lock() {
            if let Some(n) = rooms.get_mut(&self.room) {
                *n -= 1;
                if *n == 0 {
                    rooms.remove(&self.room);
                }
            }
        }
        crate::info!("rtc: a participant left room `{}`", self.room);
    }
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    let mut std: String = s.replace('-', "+").replace('_', "/");
    while !std.len().is_multiple_of(4) {
        std.push('=');
    }
    crate::util::base64_decode(&std)
}

/// The token's claims when one of `keys` signed it and it is valid now.
pub fn verify(token: &str, keys: &[(String, String)], now: u64) -> Result<Value, String> {
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("invalid token: not a JWT".into());
    };
    let header: Value = b64url(head)
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or("invalid token: unreadable header")?;
    if header["alg"] != "HS256" {
        return Err(format!("invalid token: algorithm {}", header["alg"]));
    }
    let claims: Value = b64url(body)
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or("invalid token: unreadable claims")?;
    let iss = claims["iss"].as_str().unwrap_or("");
    let (_, secret) = keys
        .iter()
        .find(|(k, _)| k == iss)
        .ok_or_else(|| format!("invalid token: unknown API key `{iss}`"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(format!("{head}.{body}").as_bytes());
    let sig = b64url(sig).ok_or("invalid token: unreadable signature")?;
    mac.verify_slice(&sig)
        .map_err(|_| "invalid token: signature is invalid".to_string())?;
    if claims["exp"].as_u64().is_none_or(|exp| exp <= now) {
        return Err("invalid token: token is expired (exp)".into());
    }
    if claims["nbf"].as_u64().is_some_and(|nbf| nbf > now) {
        return Err("invalid token: token not valid yet (nbf)".into());
    }
    Ok(claims)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn twirp_error(status: u16, code: &str, msg: &str) -> Response {
    Response::json(
        status,
        serde_json::json!({ "code": code, "msg": msg }).to_string(),
    )
}

/// `Authorization: Bearer <token>` of a request, verified.
fn bearer(req: &Request, keys: &[(String, String)]) -> Result<Value, Response> {
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| twirp_error(401, "unauthenticated", "no authorization header"))?;
    verify(token.trim(), keys, now()).map_err(|e| twirp_error(401, "unauthenticated", &e))
}

/// `POST /twirp/livekit.RoomService/<method>`.
pub fn twirp(req: &Request, keys: &[(String, String)], rooms: &Rooms) -> Response {
    if req.method != "POST" {
        return twirp_error(404, "bad_route", "Twirp calls are POSTs");
    }
    let claims = match bearer(req, keys) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match req.path.rsplit('/').next().unwrap_or("") {
        "ListRooms" => {
            if claims["video"]["roomList"] != true {
                return twirp_error(403, "permission_denied", "permissions denied");
            }
            let list: Vec<Value> = rooms
                .0
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|(name, n)| {
                    let mut room = serde_json::json!({ "sid": format!("RM_{name}"), "name": name });
                    if n > 0 {
                        room["numParticipants"] = n.into();
                    }
                    room
                })
                .collect();
            Response::json(200, serde_json::json!({ "rooms": list }).to_string())
        }
        other => twirp_error(
            404,
            "bad_route",
            &format!("no handler for path \"/twirp/livekit.RoomService/{other}\""),
        ),
    }
}

/// `GET /rtc?access_token=...`: the participant's presence in its room, or
/// LiveKit's refusal.
pub fn join(req: &Request, keys: &[(String, String)], rooms: &Rooms) -> Result<Presence, Response> {
    let token = crate::util::Url::parse(&format!("http://livekit{}", req.target))
        .ok()
        .and_then(|u| u.query("access_token"))
        .ok_or_else(|| Response::text(401, "no permissions to access the room"))?;
    let claims = verify(&token, keys, now()).map_err(|e| Response::text(401, &e))?;
    let room = claims["video"]["room"].as_str().unwrap_or("").to_string();
    if claims["video"]["roomJoin"] != true || room.is_empty() {
        return Err(Response::text(401, "no permissions to access the room"));
    }
    if let Ok(mut r) = rooms.0.lock() {
        *r.entry(room.clone()).or_default() += 1;
    }
    crate::info!("rtc: a participant joined room `{room}`");
    Ok(Presence {
        rooms: rooms.clone(),
        room,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(secret: &str, claims: Value) -> String {
        let enc = |v: &[u8]| {
            crate::util::base64(v)
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_")
        };
        let head = enc(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = enc(claims.to_string().as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{head}.{body}").as_bytes());
        format!("{head}.{body}.{}", enc(&mac.finalize().into_bytes()))
    }

    #[test]
    fn tokens_are_checked_like_livekit_checks_them() {
        let keys = vec![("APIkey".to_string(), "s".repeat(32))];
        let good = token(
            &"s".repeat(32),
            serde_json::json!({"iss": "APIkey", "exp": 2000, "video": {"roomList": true}}),
        );
        assert_eq!(
            verify(&good, &keys, 1000).unwrap()["video"]["roomList"],
            true
        );
        assert!(verify(&good, &keys, 2000).unwrap_err().contains("expired"));
        let other = token(
            &"t".repeat(32),
            serde_json::json!({"iss": "APIkey", "exp": 2000}),
        );
        assert!(verify(&other, &keys, 1000)
            .unwrap_err()
            .contains("signature"));
        let unknown = token(
            &"s".repeat(32),
            serde_json::json!({"iss": "nokey", "exp": 2000}),
        );
        assert!(verify(&unknown, &keys, 1000)
            .unwrap_err()
            .contains("unknown API key"));
    }
}
