//! AUTH NTLM ([MS-SMTPNTLM]) and GSSAPI, as Exchange answers them.
//!
//! NTLM: the client's NEGOTIATE gets a CHALLENGE built from the scenario's
//! `auth.ntlm` names; its AUTHENTICATE succeeds with `accept_any`, or when
//! its NTLMv2 response proves the password `users` gives that user name.
//! GSSAPI: this harness has no Kerberos, so every token fails, as it does
//! on an Exchange server that cannot validate the client's ticket.

use super::Session;
use super::auth::{Dialog, decode};
use crate::protocol::{Reply, ntlm};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

impl Session {
    /// The client's NEGOTIATE_MESSAGE (type 1): answer with the challenge.
    pub(super) fn ntlm_negotiate(&mut self, line: &[u8]) -> Reply {
        let Some(raw) = decode(line) else {
            return Reply::new(501, "5.5.2 Cannot decode response");
        };
        let (Some(client_flags), Some(auth)) = (ntlm::parse_negotiate(&raw), &self.plan.auth)
        else {
            return self.auth_failed();
        };
        let challenge = auth.ntlm.challenge.unwrap_or_else(|| self.fresh_challenge());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let message = ntlm::challenge(
            &auth.ntlm.target,
            client_flags,
            challenge,
            ntlm::filetime(now),
        );
        self.dialog = Some(Dialog::NtlmAuthenticate { challenge });
        Reply::new(334, B64.encode(message))
    }

    /// The client's AUTHENTICATE_MESSAGE (type 3): check it.
    pub(super) fn ntlm_authenticate(&mut self, line: &[u8], challenge: &[u8; 8]) -> Reply {
        let Some(raw) = decode(line) else {
            return Reply::new(501, "5.5.2 Cannot decode response");
        };
        let (Some(message), Some(auth)) = (ntlm::parse_authenticate(&raw), &self.plan.auth) else {
            return self.auth_failed();
        };
        // An anonymous AUTHENTICATE (no user name) never signs anyone in.
        if message.user.is_empty() {
            return self.auth_failed();
        }
        let password = auth.users.get(&message.user).or_else(|| {
            auth.users
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(&message.user))
                .map(|(_, p)| p)
        });
        let ok = auth.accept_any
            || password.is_some_and(|p| ntlm::verify_v2(&message, p, challenge));
        if ok {
            self.auth_succeeded(&message.user)
        } else {
            self.auth_failed()
        }
    }

    /// A GSSAPI token: without Kerberos it cannot be accepted.
    pub(super) fn gssapi_token(&mut self) -> Reply {
        self.dialog = None;
        self.auth_failed()
    }

    /// A ServerChallenge nobody can predict: std's per-instance random
    /// hash keys over the session, the port and the time.
    fn fresh_challenge(&self) -> [u8; 8] {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(self.info.id);
        h.write_u16(self.info.peer.port());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        h.finish().to_le_bytes()
    }
}
