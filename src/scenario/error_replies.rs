//! `replies:` for the refusals: commands out of order, malformed or past a
//! limit. The defaults are Postfix 3.7's texts (checked by the differential
//! test, tests/postfix_differential.rs); a product that words them
//! otherwise (Exchange) names each one in its scenario, so no emulation
//! answers with another product's wording (tests/exchange_wording.rs).

use super::compile::{Checker, ReplyTemplate};
use super::model::{RepliesSpec, ReplyText};
use serde_saphyr::Spanned;

/// The refusal texts of one scenario.
#[derive(Debug, Clone)]
pub struct ErrorReplies {
    /// An empty or binary line.
    pub bad_syntax: ReplyTemplate,
    /// HELO/EHLO without a host name; `None`: Postfix's, naming the verb.
    pub helo_syntax: Option<ReplyTemplate>,
    /// MAIL before HELO/EHLO.
    pub need_helo: ReplyTemplate,
    /// MAIL inside a transaction.
    pub nested_mail: ReplyTemplate,
    /// RCPT before MAIL.
    pub need_mail: ReplyTemplate,
    /// DATA before MAIL.
    pub need_rcpt: ReplyTemplate,
    /// DATA with no accepted recipient.
    pub no_recipients: ReplyTemplate,
    /// MAIL without `FROM:`.
    pub mail_syntax: ReplyTemplate,
    /// RCPT without `TO:`.
    pub rcpt_syntax: ReplyTemplate,
    /// Malformed sender.
    pub bad_sender: ReplyTemplate,
    /// Malformed recipient.
    pub bad_recipient: ReplyTemplate,
    /// Unknown parameter; `None`: Postfix's, naming it.
    pub unsupported_param: Option<ReplyTemplate>,
    /// `SIZE=` not a number.
    pub bad_size: ReplyTemplate,
    /// Message over the size limit, declared at MAIL.
    pub too_big: ReplyTemplate,
    /// Message over the size limit, at its end (Postfix words it otherwise).
    pub too_big_data: ReplyTemplate,
    /// Recipients past the limit.
    pub too_many_recipients: ReplyTemplate,
    /// RSET with an argument.
    pub rset_syntax: ReplyTemplate,
    /// DATA with an argument.
    pub data_syntax: ReplyTemplate,
    /// VRFY without one address.
    pub vrfy_syntax: ReplyTemplate,
    /// STARTTLS with an argument.
    pub starttls_syntax: ReplyTemplate,
    /// AUTH without one mechanism.
    pub auth_syntax: ReplyTemplate,
    /// Command line too long.
    pub line_too_long: ReplyTemplate,
    /// STARTTLS once TLS is active.
    pub tls_active: ReplyTemplate,
    /// MAIL before STARTTLS (`tls.require`).
    pub tls_required: ReplyTemplate,
    /// MAIL before AUTH (`auth.require`).
    pub auth_required: ReplyTemplate,
    /// AUTH once authenticated.
    pub already_authenticated: ReplyTemplate,
    /// AUTH inside a transaction.
    pub auth_in_transaction: ReplyTemplate,
    /// An undeclared UTF-8 address.
    pub utf8_address: ReplyTemplate,
    /// A malformed BDAT (the connection closes after it).
    pub bdat_syntax: ReplyTemplate,
    /// DATA after BDAT.
    pub data_after_bdat: ReplyTemplate,
}

/// Each text from the scenario, or Postfix's.
pub(crate) fn compile(c: &mut Checker, r: &RepliesSpec) -> ErrorReplies {
    let optional = |c: &mut Checker, spec: &Option<Spanned<ReplyText>>| {
        spec.as_ref().map(|s| c.reply_text(&s.value, &s.referenced))
    };
    let too_big = c.reply(r.too_big.as_ref(), "552 5.3.4 Message size exceeds fixed limit");
    let too_big_data = match r.too_big {
        Some(_) => too_big.clone(),
        None => c.reply(None, "552 5.3.4 Error: message file too big"),
    };
    ErrorReplies {
        bad_syntax: c.reply(r.bad_syntax.as_ref(), "500 5.5.2 Error: bad syntax"),
        helo_syntax: optional(c, &r.helo_syntax),
        need_helo: c.reply(r.need_helo.as_ref(), "503 5.5.1 Error: send HELO/EHLO first"),
        nested_mail: c.reply(r.nested_mail.as_ref(), "503 5.5.1 Error: nested MAIL command"),
        need_mail: c.reply(r.need_mail.as_ref(), "503 5.5.1 Error: need MAIL command"),
        need_rcpt: c.reply(r.need_rcpt.as_ref(), "503 5.5.1 Error: need RCPT command"),
        no_recipients: c.reply(r.no_recipients.as_ref(), "554 5.5.1 Error: no valid recipients"),
        mail_syntax: c.reply(r.mail_syntax.as_ref(), "501 5.5.4 Syntax: MAIL FROM:<address>"),
        rcpt_syntax: c.reply(r.rcpt_syntax.as_ref(), "501 5.5.4 Syntax: RCPT TO:<address>"),
        bad_sender: c.reply(r.bad_sender.as_ref(), "501 5.1.7 Bad sender address syntax"),
        bad_recipient: c.reply(r.bad_recipient.as_ref(), "501 5.1.3 Bad recipient address syntax"),
        unsupported_param: optional(c, &r.unsupported_param),
        bad_size: c.reply(r.bad_size.as_ref(), "501 5.5.4 Bad message size syntax"),
        too_big,
        too_big_data,
        too_many_recipients: c.reply(
            r.too_many_recipients.as_ref(),
            "452 4.5.3 Error: too many recipients",
        ),
        rset_syntax: c.reply(r.rset_syntax.as_ref(), "501 5.5.4 Syntax: RSET"),
        data_syntax: c.reply(r.data_syntax.as_ref(), "501 5.5.4 Syntax: DATA"),
        vrfy_syntax: c.reply(
            r.vrfy_syntax.as_ref(),
            "501 5.5.4 Syntax: VRFY address [SMTPUTF8]",
        ),
        starttls_syntax: c.reply(r.starttls_syntax.as_ref(), "501 5.5.4 Syntax: STARTTLS"),
        auth_syntax: c.reply(r.auth_syntax.as_ref(), "501 5.5.4 Syntax: AUTH mechanism"),
        line_too_long: c.reply(r.line_too_long.as_ref(), "500 5.5.2 Error: line too long"),
        tls_active: c.reply(r.tls_active.as_ref(), "554 5.5.1 Error: TLS already active"),
        tls_required: c.reply(
            r.tls_required.as_ref(),
            "530 5.7.0 Must issue a STARTTLS command first",
        ),
        auth_required: c.reply(r.auth_required.as_ref(), "530 5.7.0 Authentication required"),
        already_authenticated: c.reply(
            r.already_authenticated.as_ref(),
            "503 5.5.1 Error: already authenticated",
        ),
        auth_in_transaction: c.reply(
            r.auth_in_transaction.as_ref(),
            "503 5.5.1 Error: MAIL transaction in progress",
        ),
        utf8_address: c.reply(
            r.utf8_address.as_ref(),
            "553 5.6.7 Must declare SMTPUTF8 to send UTF-8 addresses",
        ),
        bdat_syntax: c.reply(r.bdat_syntax.as_ref(), "521 5.5.4 Syntax: BDAT count [LAST]"),
        data_after_bdat: c.reply(r.data_after_bdat.as_ref(), "503 5.5.1 Error: DATA after BDAT"),
    }
}
