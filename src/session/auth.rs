//! SMTP AUTH (RFC 4954): PLAIN, LOGIN and CRAM-MD5 against the scenario's
//! credentials. The continuation lines of a dialog are not commands, and
//! they carry secrets, so the session tells the I/O layer what it may record
//! of every client line ([`Session::shown_line`], [`Session::shown_head`]).

use super::{Next, Outcome, Session};
use crate::protocol::{Command, Reply, sasl};
use crate::scenario::compile::Mechanism;
use crate::scenario::model::StateName;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hmac::{Hmac, Mac};

/// Where an AUTH exchange stands, waiting for the client's next line.
#[derive(Debug, Clone)]
pub(super) enum Dialog {
    PlainResponse,
    LoginUser,
    LoginPassword { user: String },
    CramResponse { challenge: String },
    /// After `334 NTLM supported`: the NEGOTIATE message is due.
    NtlmNegotiate,
    /// After the CHALLENGE: the AUTHENTICATE message is due.
    NtlmAuthenticate { challenge: [u8; 8] },
    /// After GSSAPI's empty `334`: the client's first token is due.
    GssapiToken,
}

pub(super) fn decode(line: &[u8]) -> Option<Vec<u8>> {
    if line == b"=" {
        return Some(Vec::new());
    }
    B64.decode(line).ok()
}

impl Session {
    /// The reply to an `AUTH` command.
    pub(super) fn auth_command(&mut self, cmd: &Command) -> Reply {
        let Some(auth) = self
            .plan
            .auth
            .as_ref()
            .filter(|a| !a.after_tls || self.tls_active)
        else {
            if self.plan.dialect == crate::scenario::model::Dialect::Postfix {
                return Reply::new(503, "5.5.1 Error: authentication not enabled");
            }
            return self.render(&self.plan.replies.not_implemented);
        };
        let offered = auth.offered(self.tls_active);
        if self.authenticated.is_some() {
            return self.render(&self.plan.replies.errors.already_authenticated);
        }
        match self.state {
            StateName::Connected => return self.render(&self.plan.replies.errors.need_helo),
            StateName::Mail | StateName::Rcpt => {
                return self.render(&self.plan.replies.errors.auth_in_transaction);
            }
            StateName::Greeted => {}
        }
        let mut words = cmd.args.split_whitespace();
        let (Some(name), initial, None) = (words.next(), words.next(), words.next()) else {
            return self.render(&self.plan.replies.errors.auth_syntax);
        };
        let Some(mech) = Mechanism::parse(name).filter(|m| offered.contains(m)) else {
            return self.render(&auth.replies.unrecognized);
        };
        match (mech, initial) {
            (Mechanism::Plain, Some(resp)) => self.plain(resp.as_bytes()),
            (Mechanism::Plain, None) => {
                self.dialog = Some(Dialog::PlainResponse);
                Reply::new(334, "")
            }
            (Mechanism::Login, Some(user)) => match decode(user.as_bytes()) {
                Some(user) => {
                    self.dialog = Some(Dialog::LoginPassword {
                        user: String::from_utf8_lossy(&user).into_owned(),
                    });
                    Reply::new(334, "UGFzc3dvcmQ6")
                }
                None => Reply::new(501, "5.5.2 Cannot decode response"),
            },
            (Mechanism::Login, None) => {
                self.dialog = Some(Dialog::LoginUser);
                Reply::new(334, "VXNlcm5hbWU6")
            }
            // The server speaks first in CRAM-MD5 (RFC 4954 4).
            (Mechanism::CramMd5, Some(_)) => {
                Reply::new(501, "5.7.0 Client initiated Authentication Exchange")
            }
            (Mechanism::CramMd5, None) => {
                let challenge = format!(
                    "<{}.{}@{}>",
                    self.info.id,
                    self.info.peer.port(),
                    self.plan.hostname
                );
                let encoded = B64.encode(&challenge);
                self.dialog = Some(Dialog::CramResponse { challenge });
                Reply::new(334, encoded)
            }
            (Mechanism::Ntlm, Some(negotiate)) => self.ntlm_negotiate(negotiate.as_bytes()),
            // [MS-SMTPNTLM] 2.2.1.2: only the code matters; Exchange says this.
            (Mechanism::Ntlm, None) => {
                self.dialog = Some(Dialog::NtlmNegotiate);
                Reply::new(334, "NTLM supported")
            }
            (Mechanism::Gssapi, Some(_)) => self.gssapi_token(),
            // RFC 4752 3.1: an empty challenge asks for the client's token.
            (Mechanism::Gssapi, None) => {
                self.dialog = Some(Dialog::GssapiToken);
                Reply::new(334, "")
            }
        }
    }

    /// The client's next line in an AUTH exchange.
    pub(super) fn auth_continue(&mut self, line: &[u8]) -> Outcome {
        let dialog = self.dialog.take();
        let reply = if line == b"*" {
            Reply::new(501, "5.7.0 Authentication aborted")
        } else {
            match dialog {
                Some(Dialog::PlainResponse) => self.plain(line),
                Some(Dialog::LoginUser) => match decode(line) {
                    Some(user) => {
                        self.dialog = Some(Dialog::LoginPassword {
                            user: String::from_utf8_lossy(&user).into_owned(),
                        });
                        Reply::new(334, "UGFzc3dvcmQ6")
                    }
                    None => Reply::new(501, "5.5.2 Cannot decode response"),
                },
                Some(Dialog::LoginPassword { user }) => match decode(line) {
                    Some(pass) => self.check(&user, Secret::Password(&pass)),
                    None => Reply::new(501, "5.5.2 Cannot decode response"),
                },
                Some(Dialog::CramResponse { challenge }) => match decode(line) {
                    Some(resp) => {
                        let text = String::from_utf8_lossy(&resp).into_owned();
                        match text.rsplit_once(' ') {
                            Some((user, digest)) => self.check(
                                user,
                                Secret::Cram {
                                    challenge: &challenge,
                                    digest,
                                },
                            ),
                            None => Reply::new(501, "5.5.2 Cannot decode response"),
                        }
                    }
                    None => Reply::new(501, "5.5.2 Cannot decode response"),
                },
                Some(Dialog::NtlmNegotiate) => self.ntlm_negotiate(line),
                Some(Dialog::NtlmAuthenticate { challenge }) => {
                    self.ntlm_authenticate(line, &challenge)
                }
                Some(Dialog::GssapiToken) => self.gssapi_token(),
                None => Reply::new(503, "5.5.1 Error: no AUTH in progress"),
            }
        };
        Outcome {
            next: Next::Command,
            ..Outcome::reply(reply)
        }
    }

    fn plain(&mut self, response: &[u8]) -> Reply {
        let Some(raw) = decode(response) else {
            return Reply::new(501, "5.5.2 Cannot decode response");
        };
        // RFC 4616: [authzid] NUL authcid NUL passwd, exactly; authcid and
        // passwd are not empty. Anything else is not a PLAIN message (an
        // extra field must not pass as part of a correct password).
        let parts: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
        let [authz, user, pass] = parts[..] else {
            return Reply::new(501, "5.5.2 Cannot decode response");
        };
        if user.is_empty() || pass.is_empty() {
            return Reply::new(501, "5.5.2 Cannot decode response");
        }
        // Acting for someone else (proxy authorisation) is never granted here.
        if !authz.is_empty() && authz != user && !self.accepts_anyone() {
            return self.auth_failed();
        }
        self.check(&String::from_utf8_lossy(user), Secret::Password(pass))
    }

    fn accepts_anyone(&self) -> bool {
        self.plan.auth.as_ref().is_some_and(|a| a.accept_any)
    }

    /// The scenario's failure reply (`535`).
    pub(super) fn auth_failed(&self) -> Reply {
        match &self.plan.auth {
            Some(auth) => self.render(&auth.replies.failure),
            None => Reply::new(535, "5.7.8 Authentication credentials invalid"),
        }
    }

    /// `user` is signed in: the scenario's success reply (`235`).
    pub(super) fn auth_succeeded(&mut self, user: &str) -> Reply {
        self.authenticated = Some(user.to_string());
        match &self.plan.auth {
            Some(auth) => self.render(&auth.replies.success),
            None => Reply::new(235, "2.7.0 Authentication successful"),
        }
    }

    fn check(&mut self, user: &str, secret: Secret<'_>) -> Reply {
        let Some(auth) = &self.plan.auth else {
            return self.auth_failed();
        };
        let ok = auth.accept_any
            || auth.users.get(user).is_some_and(|password| match secret {
                Secret::Password(p) => p == password.as_bytes(),
                Secret::Cram { challenge, digest } => {
                    cram_digest(password, challenge).eq_ignore_ascii_case(digest)
                }
            });
        if ok {
            self.auth_succeeded(user)
        } else {
            self.auth_failed()
        }
    }

    /// What the transcript may record of the client line `line`: the line
    /// itself, or `<redacted>` for a SASL response and `AUTH PLAIN
    /// <redacted>` for an AUTH line with credentials, whoever answers it and
    /// whether or not the scenario offers AUTH (unless it says
    /// `show_secrets`). Called before the line is answered.
    pub fn shown_line(&self, line: &[u8]) -> Bytes {
        self.shown(line, false)
    }

    /// What the transcript may record of the start of a line whose end never
    /// came or was discarded (overlong, or cut off by the connection's end):
    /// like [`Session::shown_line`], but a secret is assumed to follow.
    pub fn shown_head(&self, head: &[u8]) -> Bytes {
        self.shown(head, true)
    }

    fn shown(&self, line: &[u8], cut: bool) -> Bytes {
        let show = self.plan.auth.as_ref().is_some_and(|a| a.show_secrets);
        if show {
            return Bytes::copy_from_slice(line);
        }
        sasl::shown(line, cut, self.sasl)
    }

    /// Who authenticated, if anyone.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }
}

enum Secret<'a> {
    Password(&'a [u8]),
    Cram { challenge: &'a str, digest: &'a str },
}

/// RFC 2195: hex HMAC-MD5 of the challenge keyed with the password.
pub fn cram_digest(password: &str, challenge: &str) -> String {
    let Ok(mut mac) = Hmac::<md5::Md5>::new_from_slice(password.as_bytes()) else {
        return String::new();
    };
    mac.update(challenge.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cram_md5_matches_rfc_2195_example() {
        // RFC 2195 section 2: user tim, password tanstaaftanstaaf.
        let digest = super::cram_digest(
            "tanstaaftanstaaf",
            "<1896.697170952@postoffice.reston.mci.net>",
        );
        assert_eq!(digest, "b913a602c7eda7a495b4e6e7334d3890");
    }
}
