//! `replies:`: the texts of the built-in replies and refusals.

use super::*;

/// `replies:` — texts of the built-in replies, for servers whose wording
/// matters (Exchange's `250 2.1.0 Sender OK`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepliesSpec {
    /// MAIL accepted.
    #[schemars(with = "Option<ReplyText>")]
    pub mail_ok: Option<Spanned<ReplyText>>,
    /// RCPT accepted.
    #[schemars(with = "Option<ReplyText>")]
    pub rcpt_ok: Option<Spanned<ReplyText>>,
    /// DATA accepted, send the message.
    #[schemars(with = "Option<ReplyText>")]
    pub data_start: Option<Spanned<ReplyText>>,
    /// RSET.
    #[schemars(with = "Option<ReplyText>")]
    pub rset: Option<Spanned<ReplyText>>,
    /// NOOP.
    #[schemars(with = "Option<ReplyText>")]
    pub noop: Option<Spanned<ReplyText>>,
    /// VRFY with an argument.
    #[schemars(with = "Option<ReplyText>")]
    pub vrfy: Option<Spanned<ReplyText>>,
    /// HELP.
    #[schemars(with = "Option<ReplyText>")]
    pub help: Option<Spanned<ReplyText>>,
    /// QUIT.
    #[schemars(with = "Option<ReplyText>")]
    pub quit: Option<Spanned<ReplyText>>,
    /// STARTTLS accepted (the 220 before the handshake).
    #[schemars(with = "Option<ReplyText>")]
    pub starttls: Option<Spanned<ReplyText>>,
    /// An unknown verb.
    #[schemars(with = "Option<ReplyText>")]
    pub unknown: Option<Spanned<ReplyText>>,
    /// A known verb this server does not implement (EXPN, ETRN, TURN …).
    #[schemars(with = "Option<ReplyText>")]
    pub not_implemented: Option<Spanned<ReplyText>>,
    /// The client was idle longer than `limits.idle_timeout`.
    #[schemars(with = "Option<ReplyText>")]
    pub timeout: Option<Spanned<ReplyText>>,
    /// The server is shutting down.
    #[schemars(with = "Option<ReplyText>")]
    pub shutdown: Option<Spanned<ReplyText>>,    /// A line that is no command at all: empty, or binary (a STARTTLS handshake
    /// sent to a server whose STARTTLS a firewall stripped).
    #[schemars(with = "Option<ReplyText>")]
    pub bad_syntax: Option<Spanned<ReplyText>>,
    /// HELO or EHLO without a host name (default Postfix's
    /// `501 Syntax: HELO hostname`, naming the verb sent).
    #[schemars(with = "Option<ReplyText>")]
    pub helo_syntax: Option<Spanned<ReplyText>>,
    /// MAIL (or AUTH) before HELO/EHLO.
    #[schemars(with = "Option<ReplyText>")]
    pub need_helo: Option<Spanned<ReplyText>>,
    /// MAIL inside a transaction.
    #[schemars(with = "Option<ReplyText>")]
    pub nested_mail: Option<Spanned<ReplyText>>,
    /// RCPT before MAIL.
    #[schemars(with = "Option<ReplyText>")]
    pub need_mail: Option<Spanned<ReplyText>>,
    /// DATA before MAIL and RCPT (and BDAT without recipients).
    #[schemars(with = "Option<ReplyText>")]
    pub need_rcpt: Option<Spanned<ReplyText>>,
    /// DATA after MAIL with no accepted recipient.
    #[schemars(with = "Option<ReplyText>")]
    pub no_recipients: Option<Spanned<ReplyText>>,
    /// MAIL without `FROM:`.
    #[schemars(with = "Option<ReplyText>")]
    pub mail_syntax: Option<Spanned<ReplyText>>,
    /// RCPT without `TO:`.
    #[schemars(with = "Option<ReplyText>")]
    pub rcpt_syntax: Option<Spanned<ReplyText>>,
    /// MAIL with a malformed address.
    #[schemars(with = "Option<ReplyText>")]
    pub bad_sender: Option<Spanned<ReplyText>>,
    /// RCPT with a malformed address.
    #[schemars(with = "Option<ReplyText>")]
    pub bad_recipient: Option<Spanned<ReplyText>>,
    /// A MAIL or RCPT parameter this server does not know (default
    /// Postfix's `555 5.5.4 Unsupported option: NAME=VALUE`, naming it).
    #[schemars(with = "Option<ReplyText>")]
    pub unsupported_param: Option<Spanned<ReplyText>>,
    /// MAIL with a `SIZE=` that is not a number.
    #[schemars(with = "Option<ReplyText>")]
    pub bad_size: Option<Spanned<ReplyText>>,
    /// A message larger than `limits.message_size`: at MAIL (`SIZE=`) and at
    /// the end of DATA or BDAT.
    #[schemars(with = "Option<ReplyText>")]
    pub too_big: Option<Spanned<ReplyText>>,
    /// RCPT past `limits.recipients`.
    #[schemars(with = "Option<ReplyText>")]
    pub too_many_recipients: Option<Spanned<ReplyText>>,
    /// RSET with an argument.
    #[schemars(with = "Option<ReplyText>")]
    pub rset_syntax: Option<Spanned<ReplyText>>,
    /// DATA with an argument.
    #[schemars(with = "Option<ReplyText>")]
    pub data_syntax: Option<Spanned<ReplyText>>,
    /// VRFY without one address.
    #[schemars(with = "Option<ReplyText>")]
    pub vrfy_syntax: Option<Spanned<ReplyText>>,
    /// STARTTLS with an argument.
    #[schemars(with = "Option<ReplyText>")]
    pub starttls_syntax: Option<Spanned<ReplyText>>,
    /// AUTH without one mechanism (and at most one initial response).
    #[schemars(with = "Option<ReplyText>")]
    pub auth_syntax: Option<Spanned<ReplyText>>,
    /// A command line longer than `limits.command_line`.
    #[schemars(with = "Option<ReplyText>")]
    pub line_too_long: Option<Spanned<ReplyText>>,
    /// STARTTLS once TLS is active.
    #[schemars(with = "Option<ReplyText>")]
    pub tls_active: Option<Spanned<ReplyText>>,
    /// MAIL before STARTTLS when `tls.require` is set.
    #[schemars(with = "Option<ReplyText>")]
    pub tls_required: Option<Spanned<ReplyText>>,
    /// MAIL before AUTH when `auth.require` is set.
    #[schemars(with = "Option<ReplyText>")]
    pub auth_required: Option<Spanned<ReplyText>>,
    /// AUTH once authenticated.
    #[schemars(with = "Option<ReplyText>")]
    pub already_authenticated: Option<Spanned<ReplyText>>,
    /// AUTH inside a mail transaction.
    #[schemars(with = "Option<ReplyText>")]
    pub auth_in_transaction: Option<Spanned<ReplyText>>,
    /// A UTF-8 address in MAIL or RCPT without `SMTPUTF8` on MAIL.
    #[schemars(with = "Option<ReplyText>")]
    pub utf8_address: Option<Spanned<ReplyText>>,
    /// A BDAT line without a valid size: the connection is closed after it,
    /// as the chunk's end cannot be known.
    #[schemars(with = "Option<ReplyText>")]
    pub bdat_syntax: Option<Spanned<ReplyText>>,
    /// DATA in a transaction that BDAT began.
    #[schemars(with = "Option<ReplyText>")]
    pub data_after_bdat: Option<Spanned<ReplyText>>,
}
