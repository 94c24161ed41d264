//! Exchange SMTP Receive and Send protocol logs (Exchange 2007 and later).
//!
//! A CSV file with `#`-header lines; `#Fields:` names the columns. Rows of
//! many sessions interleave; each row carries its session id and sequence
//! number, so sessions are grouped by id and ordered by sequence. Events: `+`
//! connect, `-` disconnect, `>` sent by Exchange, `<` received by Exchange,
//! `*` information. In a Receive log Exchange is the server; in a Send log it
//! is the client.
//!
//! Exchange logs a multi-line reply as one line with two spaces after the
//! code (`250  HOST Hello [1.2.3.4] SIZE 37748736 PIPELINING …`); the EHLO
//! reply is split back into the lines that went over the wire. AUTH
//! exchanges and message content are not logged: the unlogged client lines
//! become [`ItemKind::HiddenCommand`](super::model::ItemKind::HiddenCommand)
//! and message data has no size.
//!
//! Rows that do not fit (another log's layout pasted in, duplicates, a
//! fragment without any client line) are skipped with a warning.

use super::builder::SessionBuilder;
use super::csv;
use super::model::{Capture, CapturedSession, End, reply_code};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DEFAULT_FIELDS: &str = "date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context";

/// EHLO keywords Exchange (and common servers) announce. In the one-line
/// form a word from this list starts a new reply line; other words are
/// parameters of the keyword before them.
const EHLO_KEYWORDS: &[&str] = &[
    "SIZE",
    "PIPELINING",
    "DSN",
    "ENHANCEDSTATUSCODES",
    "STARTTLS",
    "X-ANONYMOUSTLS",
    "AUTH",
    "X-EXPS",
    "8BITMIME",
    "BINARYMIME",
    "CHUNKING",
    "XEXCH50",
    "XRDST",
    "XSHADOWREQUEST",
    "XSHADOW",
    "SMTPUTF8",
    "XOORG",
    "XPROXY",
    "XPROXYFROM",
    "XPROXYTO",
    "XRSETPROXYTO",
    "XSESSIONPARAMS",
    "XSYSPROBE",
    "XFPROXYTO",
    "XLONGADDR",
    "XORGID",
    "XMSGID",
    "XATTRDIRECT",
    "XATTRORGID",
    "XADRDIRECT",
    "XSESSIONTYPE",
    "XDOMAINDIRECT",
    "X-LINK2STATE",
    "ETRN",
    "VRFY",
    "EXPN",
    "HELP",
    "TURN",
    "ATRN",
    "DELIVERBY",
    "REQUIRETLS",
    "MTRK",
    "NO-SOLICITING",
    "DELIVERY",
];

struct Row<'a> {
    line_no: usize,
    time: Option<SystemTime>,
    seq: u64,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    event: u8,
    data: Vec<u8>,
    context: &'a [u8],
}

/// Parse `yyyy-mm-ddThh:mm:ss[.fff]Z`.
pub fn parse_time(text: &[u8]) -> Option<SystemTime> {
    let t = std::str::from_utf8(text).ok()?;
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.split(':');
    let hh: i64 = h.next()?.parse().ok()?;
    let mm: i64 = h.next()?.parse().ok()?;
    let ss: i64 = h.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        let n: u32 = digits.parse().ok()?;
        n * 10u32.pow(9 - digits.len() as u32)
    };
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Split Exchange's one-line EHLO reply (`250  HOST Hello [ip] SIZE 1 …`)
/// into wire lines (`250-HOST Hello [ip]`, `250-SIZE 1`, …, `250 CHUNKING`).
/// Returns `None` when the line is not in that form.
pub fn split_ehlo(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    reply_code(line)?;
    if line.get(3..5) != Some(b"  ") {
        return None;
    }
    let code = &line[..3];
    let text = std::str::from_utf8(&line[5..]).ok()?;
    let mut groups: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let keyword = word.split('=').next().unwrap_or(word);
        let starts_line = EHLO_KEYWORDS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(keyword))
            && !groups[0].is_empty();
        if starts_line {
            groups.push(word.to_string());
        } else if let Some(last) = groups.last_mut() {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    let n = groups.len();
    Some(
        groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                let mut l = code.to_vec();
                l.push(if i + 1 == n { b' ' } else { b'-' });
                l.extend_from_slice(g.as_bytes());
                l
            })
            .collect(),
    )
}

/// The `#` header lines and the data rows (numbered from 1) of a log.
struct Lines<'a> {
    /// The `#Fields:` header's column names, as written.
    fields: Option<String>,
    /// `#Log-type:` says it is a Send log (Exchange is the client).
    send_log: bool,
    rows: Vec<(usize, &'a [u8])>,
}

fn lines(bytes: &[u8]) -> Lines<'_> {
    let mut lines = Lines {
        fields: None,
        send_log: false,
        rows: Vec::new(),
    };
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(h) = line.strip_prefix(b"#") {
            let h = String::from_utf8_lossy(h);
            if let Some(f) = h.strip_prefix("Fields:") {
                lines.fields = Some(f.trim().to_string());
            } else if let Some(t) = h.strip_prefix("Log-type:") {
                lines.send_log = t.contains("Send");
            }
            continue;
        }
        lines.rows.push((i + 1, line));
    }
    lines
}

/// Where each field is in a row, from the `#Fields:` header.
struct Columns {
    count: usize,
    sid: usize,
    seq: usize,
    event: usize,
    data: usize,
    time: Option<usize>,
    local: Option<usize>,
    remote: Option<usize>,
    context: Option<usize>,
}

impl Columns {
    /// The columns the header names; an error when one a session needs is
    /// missing.
    fn new(fields: &str) -> Result<Columns, String> {
        let names: Vec<&str> = fields.split(',').map(str::trim).collect();
        let col = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let required = ["session-id", "sequence-number", "event", "data"];
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|n| col(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "not an Exchange protocol log: the `#Fields:` header lacks the column(s) {} (it names: {})",
                missing.join(", "),
                names.join(",")
            ));
        }
        Ok(Columns {
            count: names.len(),
            sid: col("session-id").unwrap_or(0),
            seq: col("sequence-number").unwrap_or(0),
            event: col("event").unwrap_or(0),
            data: col("data").unwrap_or(0),
            time: col("date-time"),
            local: col("local-endpoint"),
            remote: col("remote-endpoint"),
            context: col("context"),
        })
    }

    /// One data row: its session id and what it says, or why it is skipped.
    fn row<'a>(&self, line_no: usize, line: &'a [u8]) -> Result<(Vec<u8>, Row<'a>), String> {
        let f = csv::split(line).ok_or_else(|| format!("line {line_no}: unclosed quote"))?;
        if f.len() != self.count {
            return Err(format!(
                "line {line_no}: {} fields where the header names {} (another log's layout?)",
                f.len(),
                self.count
            ));
        }
        let seq = std::str::from_utf8(&f[self.seq])
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let event = match &*f[self.event] {
            [e @ (b'+' | b'-' | b'<' | b'>' | b'*')] => Some(*e),
            _ => None,
        };
        let (Some(seq), Some(event)) = (seq, event) else {
            return Err(format!(
                "line {line_no}: no sequence number or event where expected"
            ));
        };
        let addr =
            |c: Option<usize>| c.and_then(|c| std::str::from_utf8(&f[c]).ok()?.trim().parse().ok());
        let row = Row {
            line_no,
            time: self.time.and_then(|c| parse_time(&f[c])),
            seq,
            local: addr(self.local),
            remote: addr(self.remote),
            event,
            data: f[self.data].to_vec(),
            context: match self.context.map(|c| &f[c]) {
                Some(std::borrow::Cow::Borrowed(b)) => b,
                _ => &[],
            },
        };
        Ok((f[self.sid].to_vec(), row))
    }
}

/// Rows grouped by session id, sessions in the order they first appear.
fn group<'a>(
    columns: &Columns,
    rows: &[(usize, &'a [u8])],
    warnings: &mut Vec<String>,
) -> Vec<(Vec<u8>, Vec<Row<'a>>)> {
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut sessions: HashMap<Vec<u8>, Vec<Row<'a>>> = HashMap::new();
    for &(line_no, line) in rows {
        match columns.row(line_no, line) {
            Ok((sid, row)) => sessions
                .entry(sid.clone())
                .or_insert_with(|| {
                    order.push(sid);
                    Vec::new()
                })
                .push(row),
            Err(bad) => warnings.push(format!("{bad}: skipped")),
        }
    }
    order
        .into_iter()
        .filter_map(|sid| {
            let rows = sessions.remove(&sid)?;
            Some((sid, rows))
        })
        .collect()
}

/// A session's rows in sequence order, repeats dropped and gaps warned of.
fn in_sequence<'a>(sid: &str, mut rows: Vec<Row<'a>>, warnings: &mut Vec<String>) -> Vec<Row<'a>> {
    rows.sort_by_key(|r| r.seq);
    let mut kept: Vec<Row<'_>> = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(prev) = kept.last() {
            if prev.seq == r.seq {
                warnings.push(format!(
                    "session {sid}: line {} repeats sequence number {} (first on line {}); skipped",
                    r.line_no, r.seq, prev.line_no
                ));
                continue;
            }
            if r.seq > prev.seq + 1 {
                warnings.push(format!(
                    "session {sid}: sequence numbers {}..{} are missing (before line {})",
                    prev.seq + 1,
                    r.seq - 1,
                    r.line_no
                ));
            }
        }
        kept.push(r);
    }
    kept
}

/// Parse an Exchange protocol log.
pub fn parse(bytes: &[u8]) -> Result<Capture, (String, Capture)> {
    let mut capture = Capture::default();
    let lines = lines(bytes);
    let fields = lines.fields.unwrap_or_else(|| {
        capture.warnings.push(
            "no `#Fields:` header; assuming the standard Exchange 2007+ column layout".into(),
        );
        DEFAULT_FIELDS.to_string()
    });
    let columns = match Columns::new(&fields) {
        Ok(columns) => columns,
        Err(problem) => return Err((problem, capture)),
    };
    let grouped = group(&columns, &lines.rows, &mut capture.warnings);
    if grouped.is_empty() {
        let problem = if lines.rows.is_empty() {
            "the Exchange protocol log has no rows".to_string()
        } else {
            format!(
                "none of the {} rows is an Exchange protocol log row",
                lines.rows.len()
            )
        };
        return Err((problem, capture));
    }
    for (sid, rows) in grouped {
        let sid = String::from_utf8_lossy(&sid).into_owned();
        let rows = in_sequence(&sid, rows, &mut capture.warnings);
        if let Some(session) = session(&sid, &rows, lines.send_log, &mut capture.warnings) {
            capture.sessions.push(session);
        }
    }
    if capture.sessions.is_empty() {
        return Err(("no SMTP session in the protocol log".into(), capture));
    }
    Ok(capture)
}

/// One session from its rows in order; `None` (with a warning) for a
/// fragment that holds no client line.
fn session(
    sid: &str,
    rows: &[Row<'_>],
    send_log: bool,
    warnings: &mut Vec<String>,
) -> Option<CapturedSession> {
    let (server_sent, client_sent) = if send_log { (b'<', b'>') } else { (b'>', b'<') };
    let first_line = rows.first().map_or(0, |r| r.line_no);
    let first_seq = rows.first().map_or(0, |r| r.seq);
    let has_client_line = rows.iter().any(|r| r.event == client_sent);
    let begin_missing = !rows.iter().any(|r| r.event == b'+') && first_seq > 0;
    if begin_missing && !has_client_line {
        warnings.push(format!(
            "session {sid}: a fragment of {} row(s) from sequence {first_seq} (line {first_line}) with no client line; skipped",
            rows.len()
        ));
        return None;
    }
    if begin_missing {
        warnings.push(format!(
            "session {sid}: starts at sequence {first_seq} (line {first_line}); the start of the session is not in the log"
        ));
    }
    let start = rows.iter().find_map(|r| r.time);
    let at = |t: Option<SystemTime>| t?.duration_since(start?).ok();
    let (client, server) = match rows.first() {
        Some(r) if send_log => (r.local, r.remote),
        Some(r) => (r.remote, r.local),
        None => (None, None),
    };
    let mut b = SessionBuilder::new(
        CapturedSession {
            label: format!("session {sid}"),
            client,
            server,
            started: start,
            begin_missing,
            implicit_tls: false,
            items: Vec::new(),
        },
        true,
    );
    let mut last_command_ehlo = false;
    let mut end: Option<(End, Option<SystemTime>)> = None;
    for r in rows {
        match r.event {
            e if e == client_sent => {
                last_command_ehlo = r.data.len() >= 4 && r.data[..4].eq_ignore_ascii_case(b"EHLO");
                b.command(&r.data, at(r.time));
            }
            e if e == server_sent => {
                let lines = if last_command_ehlo {
                    split_ehlo(&r.data).unwrap_or_else(|| vec![r.data.clone()])
                } else {
                    vec![r.data.clone()]
                };
                last_command_ehlo = false;
                b.server_reply(lines, at(r.time));
            }
            b'-' => end = Some((closed_by(r.context, send_log, &b), r.time)),
            _ => {}
        }
    }
    Some(match end {
        Some((how, t)) => b.finish(how, at(t)),
        None => b.finish(End::CutOff, None),
    })
}

/// Who closed, from a disconnect row's context (`Local`, `Remote`), or
/// when it does not say, from whether QUIT was answered.
fn closed_by(context: &[u8], send_log: bool, b: &SessionBuilder) -> End {
    let local = context.starts_with(b"Local");
    let remote = context.starts_with(b"Remote");
    let exchange_is_server = !send_log;
    if local == exchange_is_server && (local || remote) {
        End::ServerClosed
    } else if local || remote {
        End::ClientClosed
    } else if b.quit_answered() {
        End::ServerClosed
    } else {
        End::ClientClosed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
    }

    #[test]
    fn splits_one_line_ehlo() {
        let l = b"250  mail.example.com Hello [180.20.20.20] SIZE 37748736 PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS AUTH NTLM LOGIN X-EXPS GSSAPI NTLM 8BITMIME BINARYMIME CHUNKING";
        assert_eq!(
            lines(split_ehlo(l).unwrap()),
            [
                "250-mail.example.com Hello [180.20.20.20]",
                "250-SIZE 37748736",
                "250-PIPELINING",
                "250-DSN",
                "250-ENHANCEDSTATUSCODES",
                "250-STARTTLS",
                "250-AUTH NTLM LOGIN",
                "250-X-EXPS GSSAPI NTLM",
                "250-8BITMIME",
                "250-BINARYMIME",
                "250 CHUNKING",
            ]
        );
        assert!(split_ehlo(b"250 2.0.0 OK").is_none());
    }

    #[test]
    fn times() {
        let t = parse_time(b"2019-01-25T00:03:58.478Z").unwrap();
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(d.as_millis(), 1_548_374_638_478);
        assert!(parse_time(b"junk").is_none());
        assert!(parse_time(b"2019-13-25T00:03:58Z").is_none());
    }

    #[test]
    fn missing_columns_is_a_clear_error() {
        let log = b"#Fields: date-time,connector-id,event\n2020-01-01T00:00:00Z,x,+\n";
        let (msg, _) = parse(log).unwrap_err();
        assert!(msg.contains("session-id"), "{msg}");
    }

    #[test]
    fn short_rows_are_warned_about() {
        let log = format!(
            "#Fields: {DEFAULT_FIELDS}\n2020-01-01T00:00:00.000Z,c,S1,0,1.2.3.4:25,5.6.7.8:1000,+,,\n2020-01-01T00:00:00.001Z,c,S1,1,1.2.3.4:25,5.6.7.8:1000,>,220 hi,\nshort,row\n"
        );
        let c = parse(log.as_bytes()).unwrap();
        assert_eq!(c.sessions.len(), 1);
        assert!(
            c.warnings.iter().any(|w| w.contains("2 fields")),
            "{:?}",
            c.warnings
        );
        assert_eq!(c.sessions[0].end(), Some(End::CutOff));
    }
}
