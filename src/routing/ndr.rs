//! Non-delivery reports: an RFC 3464 `multipart/report` whose human part
//! follows the Exchange 5.5–2003 layout ("Your message … did not reach the
//! following recipient(s)" with the `MSEXCH:IMS` diagnostic line), then a
//! `message/delivery-status` part, then the original headers
//! (`text/rfc822-headers`, RFC 6522).

use crate::protocol::Reply;
use crate::protocol::date::{civil_from_days, rfc5322_date};
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a recipient could not be delivered, with Exchange's diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdrReason {
    /// `000C05A6` Unknown Recipient: not in the directory.
    UnknownRecipient,
    /// `000C0595` Ambiguous Recipient: several mailboxes have the address.
    AmbiguousRecipient,
    /// `000D06B5` No proxy for Recipient: an address type the IMS does not route.
    NoProxy,
    /// `00120270` Too Many Hops: the reroute table went round in circles.
    TooManyHops,
    /// An IMCEA one-off returned because rerouting is off (Q237927, SP3 and
    /// later); Exchange reports it as `000C05A6` Unknown Recipient.
    NotRerouted,
}

impl NdrReason {
    /// The eight-digit Exchange diagnostic code.
    pub fn code(self) -> &'static str {
        match self {
            NdrReason::UnknownRecipient | NdrReason::NotRerouted => "000C05A6",
            NdrReason::AmbiguousRecipient => "000C0595",
            NdrReason::NoProxy => "000D06B5",
            NdrReason::TooManyHops => "00120270",
        }
    }

    /// The text after the code on the `MSEXCH:` line.
    pub fn text(self) -> &'static str {
        match self {
            NdrReason::UnknownRecipient | NdrReason::NotRerouted => "Unknown Recipient",
            NdrReason::AmbiguousRecipient => "Ambiguous Recipient",
            NdrReason::NoProxy => "No proxy for Recipient",
            NdrReason::TooManyHops => "Too Many Hops",
        }
    }

    /// The sentence above the `MSEXCH:` line.
    pub fn description(self) -> &'static str {
        match self {
            NdrReason::UnknownRecipient | NdrReason::NotRerouted => {
                "The recipient name is not recognized"
            }
            NdrReason::AmbiguousRecipient => "The recipient name is ambiguous",
            NdrReason::NoProxy => "Unable to deliver the message due to a communications failure",
            NdrReason::TooManyHops => "The message was rerouted too many times",
        }
    }

    /// The RFC 3463 status code.
    pub fn status(self) -> &'static str {
        match self {
            NdrReason::UnknownRecipient => "5.1.1",
            NdrReason::AmbiguousRecipient => "5.1.4",
            NdrReason::NoProxy => "5.4.4",
            NdrReason::TooManyHops => "5.4.6",
            NdrReason::NotRerouted => "5.7.1",
        }
    }

    /// The reply when the scenario rejects at RCPT time instead of bouncing.
    pub fn reply(self) -> Reply {
        let text = match self {
            NdrReason::UnknownRecipient => "User unknown",
            NdrReason::AmbiguousRecipient => "Ambiguous recipient",
            NdrReason::NoProxy => "No proxy for Recipient",
            NdrReason::TooManyHops => "Too many hops",
            NdrReason::NotRerouted => "Unable to relay",
        };
        let code = if self == NdrReason::TooManyHops {
            554
        } else {
            550
        };
        Reply::new(code, format!("{} {text}", self.status()))
    }
}

/// When undeliverable mail is refused.
///
/// # Example
///
/// ```
/// use smtp_harness::{NdrMode, Scenario};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let bounce = Scenario::builder()
///     .local_domain("adatum.com")
///     .mailbox("kim@adatum.com", &[])
///     .ndr_mode(NdrMode::Bounce) // accept unknown recipients, then send an NDR
///     .build()?;
/// assert_eq!(bounce.name(), "unnamed");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NdrMode {
    /// At RCPT time, with a 5xx reply (the default).
    #[default]
    Reject,
    /// Accept, then send a non-delivery report to the sender.
    Bounce,
}

/// Which Exchange produced the report (only a header differs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NdrStyle {
    /// `X-Mailer: Internet Mail Service (5.5.2653.19)`.
    #[default]
    Exchange55,
    /// `X-MimeOLE: Produced By Microsoft Exchange V6.5`.
    Exchange2003,
}

/// How reports are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdrSettings {
    /// Reject or bounce.
    pub mode: NdrMode,
    /// Which Exchange.
    pub style: NdrStyle,
    /// The organization on the `MSEXCH:IMS:` line.
    pub organization: String,
    /// The site on that line.
    pub site: String,
    /// The server on that line.
    pub server: String,
}

impl Default for NdrSettings {
    fn default() -> Self {
        NdrSettings {
            mode: NdrMode::Reject,
            style: NdrStyle::Exchange55,
            organization: "Microsoft".into(),
            site: "SITE".into(),
            server: "SERVER".into(),
        }
    }
}

/// One recipient that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The address as the client gave it.
    pub recipient: String,
    /// Why.
    pub reason: NdrReason,
}

/// Everything a report says.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// The reporting server (`Reporting-MTA`, the `postmaster@` sender).
    pub hostname: &'a str,
    /// Where the report goes: the original reverse path.
    pub sender: &'a str,
    /// The recipients that failed, in RCPT order.
    pub failed: &'a [Failed],
    /// The original message as received.
    pub original: &'a [u8],
    /// When the original arrived.
    pub received_at: SystemTime,
    /// When the report is made.
    pub now: SystemTime,
    /// The original's queue id, for the report's Message-ID.
    pub queue_id: &'a str,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `1/5/98 7:31 PM`, the short date of Exchange 5.5 reports (UTC here).
pub fn short_date(t: SystemTime) -> String {
    let secs = unix(t);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let (h, m) = (secs % 86_400 / 3600, secs % 3600 / 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{month}/{day}/{:02} {h12}:{m:02} {ampm}",
        year.rem_euclid(100)
    )
}

/// The header block of a message (up to the first empty line), CRLF-ended.
pub fn header_block(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let text = text.replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or_default();
    let mut out = String::new();
    for line in head.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// The value of header `name` in `head` (unfolded), if present.
fn header(head: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

/// Render the report as a complete message (headers and body, CRLF).
pub fn render(settings: &NdrSettings, report: &Report<'_>) -> String {
    let head = header_block(report.original);
    let subject = header(&head, "Subject").unwrap_or_default();
    let to = header(&head, "To").unwrap_or_else(|| {
        report
            .failed
            .iter()
            .map(|f| f.recipient.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let boundary = format!("----_=_NextPart_NDR_{}", report.queue_id);
    let now = short_date(report.now);
    let mut m = String::new();
    let _ = write!(
        m,
        "From: System Administrator <postmaster@{host}>\r\n\
         To: <{sender}>\r\n\
         Subject: Undeliverable: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <NDR.{qid}@{host}>\r\n\
         MIME-Version: 1.0\r\n\
         {mailer}\r\n\
         Auto-Submitted: auto-replied\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This message is in MIME format. Since your mail reader does not understand\r\n\
         this format, some or all of this message may not be legible.\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=\"us-ascii\"\r\n\
         \r\n\
         Your message\r\n\
         \r\n\
         \x20 To:      {to}\r\n\
         \x20 Subject: {subject}\r\n\
         \x20 Sent:    {sent}\r\n\
         \r\n\
         did not reach the following recipient(s):\r\n\
         \r\n",
        host = report.hostname,
        sender = report.sender,
        date = rfc5322_date(unix(report.now)),
        qid = report.queue_id,
        mailer = match settings.style {
            NdrStyle::Exchange55 => "X-Mailer: Internet Mail Service (5.5.2653.19)",
            NdrStyle::Exchange2003 => "X-MimeOLE: Produced By Microsoft Exchange V6.5",
        },
        sent = short_date(report.received_at),
    );
    for f in report.failed {
        let _ = write!(
            m,
            "{rcpt} on {now}\r\n    {desc}\r\n    MSEXCH:IMS:{org}:{site}:{server} 0 ({code}) {text}\r\n\r\n",
            rcpt = f.recipient,
            desc = f.reason.description(),
            org = settings.organization,
            site = settings.site,
            server = settings.server,
            code = f.reason.code(),
            text = f.reason.text(),
        );
    }
    let _ = write!(
        m,
        "--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {host}\r\n\
         Arrival-Date: {arrival}\r\n",
        host = report.hostname,
        arrival = rfc5322_date(unix(report.received_at)),
    );
    for f in report.failed {
        let _ = write!(
            m,
            "\r\nFinal-Recipient: rfc822; {rcpt}\r\n\
             Action: failed\r\n\
             Status: {status}\r\n\
             Diagnostic-Code: smtp; {reply} ({code})\r\n",
            rcpt = f.recipient,
            status = f.reason.status(),
            reply = f.reason.reply(),
            code = f.reason.code(),
        );
    }
    let _ = write!(
        m,
        "\r\n--{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         {head}\r\n\
         --{boundary}--\r\n"
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn short_dates_as_exchange_wrote_them() {
        // 1998-01-05 19:31 UTC
        let t = UNIX_EPOCH + Duration::from_secs(884_028_660);
        assert_eq!(short_date(t), "1/5/98 7:31 PM");
        assert_eq!(short_date(UNIX_EPOCH), "1/1/70 12:00 AM");
    }

    #[test]
    fn renders_the_exchange_layout_and_the_dsn() {
        let t = UNIX_EPOCH + Duration::from_secs(884_028_660);
        let failed = [Failed {
            recipient: "[SMTPOUT:user@internal.domain.com]".into(),
            reason: NdrReason::NoProxy,
        }];
        let text = render(
            &NdrSettings::default(),
            &Report {
                hostname: "mail.domain.com",
                sender: "administrator@domain.com",
                failed: &failed,
                original: b"To: user@domain.com\r\nSubject: Test Subject\r\n\r\nbody\r\n",
                received_at: t,
                now: t + Duration::from_secs(1800),
                queue_id: "000001",
            },
        );
        for want in [
            "Subject: Undeliverable: Test Subject\r\n",
            "Your message\r\n\r\n  To:      user@domain.com\r\n  Subject: Test Subject\r\n  Sent:    1/5/98 7:31 PM\r\n\r\ndid not reach the following recipient(s):\r\n\r\n",
            "[SMTPOUT:user@internal.domain.com] on 1/5/98 8:01 PM\r\n    Unable to deliver the message due to a communications failure\r\n    MSEXCH:IMS:Microsoft:SITE:SERVER 0 (000D06B5) No proxy for Recipient\r\n",
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.domain.com\r\n",
            "Action: failed\r\nStatus: 5.4.4\r\nDiagnostic-Code: smtp; 550 5.4.4 No proxy for Recipient (000D06B5)\r\n",
            "Content-Type: text/rfc822-headers\r\n\r\nTo: user@domain.com\r\nSubject: Test Subject\r\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(
            !text.contains("body"),
            "only the original headers are returned"
        );
    }
}
