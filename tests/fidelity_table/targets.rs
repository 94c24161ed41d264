//! What the table looks at, started on ephemeral loopback ports, and the
//! tools run against each target concurrently (one thread per target, and
//! a real Postfix delivering one message through every target at once).

use crate::common::postfix::{Postfix, PostfixBuilder};
use crate::common::{nmap, testssl};
use smtp_harness::probe::{ProbeOptions, probe};
use smtp_harness::{MockProxy, MockServer, Profile, Scenario};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The label of the reference row.
pub const REAL_POSTFIX: &str = "real Postfix (Debian 12)";

/// The cells in column order, after the label.
pub const NMAP_SV: usize = 0;
pub const COMMANDS: usize = 1;
pub const NTLM: usize = 2;
pub const RELAY: usize = 3;
pub const USERS: usize = 4;
pub const PIX: usize = 5;
pub const TESTSSL: usize = 6;
pub const PROBE: usize = 7;
pub const COLUMNS: [&str; 8] = [
    "nmap -sV",
    "smtp-commands",
    "smtp-ntlm-info",
    "smtp-open-relay",
    "smtp-enum-users",
    "Postfix PIX",
    "testssl.sh",
    "probe",
];

/// Every bundled scenario, every bundled profile, and the real Postfix.
pub enum Target {
    Scenario(String),
    Profile(String),
    RealPostfix,
}

impl Target {
    /// In the table's order: scenarios, profiles, then the reference.
    pub fn all() -> Vec<Target> {
        let mut all: Vec<Target> = bundled("scenarios")
            .into_iter()
            .map(Target::Scenario)
            .collect();
        all.extend(bundled("profiles").into_iter().map(Target::Profile));
        all.push(Target::RealPostfix);
        all
    }

    pub fn label(&self) -> String {
        match self {
            Target::Scenario(name) => format!("`{name}`"),
            Target::Profile(name) => format!("profile `{name}` → `postfix-default`"),
            Target::RealPostfix => REAL_POSTFIX.into(),
        }
    }
}

/// The names of `DIR/*.yaml` in the repository, sorted.
fn bundled(dir: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .expect("bundled directory")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// A target listening, and what keeps it running.
pub struct Running {
    pub label: String,
    pub addr: SocketAddr,
    _server: Option<MockServer>,
    _proxy: Option<MockProxy>,
}

/// Start every target; the profiles share one `postfix-default` upstream.
pub fn start_all(rt: &tokio::runtime::Runtime, real_postfix: SocketAddr) -> Vec<Running> {
    let upstream = rt
        .block_on(MockServer::start(
            Scenario::bundled("postfix-default").expect("bundled"),
        ))
        .expect("upstream");
    let upstream_addr = upstream.addr();
    let mut running: Vec<Running> = Target::all()
        .into_iter()
        .map(|t| {
            let label = t.label();
            match t {
                Target::Scenario(name) => {
                    let scenario = Scenario::bundled(&name).expect("bundled scenario");
                    let server = rt.block_on(MockServer::start(scenario)).expect("server");
                    Running {
                        label,
                        addr: server.addr(),
                        _server: Some(server),
                        _proxy: None,
                    }
                }
                Target::Profile(name) => {
                    let profile = Profile::bundled(&name).expect("bundled profile");
                    let proxy = rt
                        .block_on(MockProxy::start(upstream_addr, profile))
                        .expect("proxy");
                    Running {
                        label,
                        addr: proxy.addr(),
                        _server: None,
                        _proxy: Some(proxy),
                    }
                }
                Target::RealPostfix => Running {
                    label,
                    addr: real_postfix,
                    _server: None,
                    _proxy: None,
                },
            }
        })
        .collect();
    // The upstream lives as long as the proxies: kept in an extra entry
    // that is not a row.
    running.push(Running {
        label: String::new(),
        addr: upstream_addr,
        _server: Some(upstream),
        _proxy: None,
    });
    running
}

/// One row: the label and the eight tool cells.
pub struct Row {
    pub label: String,
    pub cells: Vec<String>,
}

/// Run every tool against every target, concurrently; rows in target order.
pub fn measure(
    rt: &tokio::runtime::Runtime,
    running: &[Running],
    nmap: &str,
    testssl: &str,
    test: &str,
) -> Vec<Row> {
    let targets: Vec<&Running> = running.iter().filter(|r| !r.label.is_empty()).collect();
    let dir = tempfile::tempdir().expect("temporary directory");
    let client = PostfixClient::start(dir.path(), &targets, test);
    std::thread::scope(|s| {
        let workers: Vec<_> = targets
            .iter()
            .map(|t| {
                let handle = rt.handle().clone();
                let dir = dir.path();
                s.spawn(move || tool_cells(&handle, t.addr, nmap, testssl, dir))
            })
            .collect();
        let pix = client.outcomes(&targets);
        workers
            .into_iter()
            .zip(targets.iter())
            .zip(pix)
            .map(|((w, t), pix)| {
                let mut cells = w.join().expect("a tool thread panicked");
                cells[PIX] = pix;
                let label = t.label.clone();
                if label == REAL_POSTFIX {
                    cells[TESTSSL] = snakeoil_cn(&cells[TESTSSL]);
                }
                Row { label, cells }
            })
            .collect()
    })
}

/// nmap (one run: -sV and the four scripts), the probe, and testssl.sh
/// when STARTTLS is advertised; the PIX cell is filled in later.
fn tool_cells(
    rt: &tokio::runtime::Handle,
    addr: SocketAddr,
    nmap: &str,
    testssl: &str,
    dir: &Path,
) -> Vec<String> {
    let scripts = [
        "smtp-commands",
        "smtp-ntlm-info",
        "smtp-open-relay",
        "smtp-enum-users",
    ];
    let out = nmap::scan(nmap, addr.port(), &scripts, &["-sV"]);
    let report = rt.block_on(probe(addr, &ProbeOptions::default()));
    let advertised = report.starttls.as_ref().is_some_and(|s| s.advertised);
    let tls = if advertised {
        testssl::condense(&testssl::run(testssl, addr.port(), dir))
    } else {
        "— (no STARTTLS in EHLO)".to_string()
    };
    vec![
        nmap::service(&out, addr.port()).unwrap_or_else(|| format!("no port line:\n{out}")),
        crate::reference::commands(nmap::script_output(&out, "smtp-commands")),
        crate::reference::ntlm(nmap::script_output(&out, "smtp-ntlm-info")),
        crate::reference::relay(nmap::script_output(&out, "smtp-open-relay")),
        crate::reference::users(nmap::script_output(&out, "smtp-enum-users")),
        String::new(),
        tls,
        report.verdict.summary.clone(),
    ]
}

/// The real Postfix presents Debian's snakeoil certificate, whose CN is
/// the name of the machine it was installed on: named, not printed.
fn snakeoil_cn(cell: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "multiline"])
        .args(["-in", "/etc/ssl/certs/ssl-cert-snakeoil.pem"])
        .output();
    let cn = out.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.trim().strip_prefix("commonName").map(str::to_string))
            .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
    });
    match cn {
        Some(cn) => cell.replace(&format!("CN {cn} "), "CN (snakeoil: machine name) "),
        None => cell.to_string(),
    }
}

/// A real Postfix as the SMTP client: one message per target, each routed
/// to its target by a transport map, delivered at once.
struct PostfixClient {
    postfix: Postfix,
    queue_ids: Vec<String>,
}

impl PostfixClient {
    fn start(dir: &Path, targets: &[&Running], test: &str) -> PostfixClient {
        let map: PathBuf = dir.join("transport");
        let lines: String = targets
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{} smtp:[127.0.0.1]:{}\n", recipient(i), t.addr.port()))
            .collect();
        std::fs::write(&map, lines).expect("transport map");
        // The daemons run as `postfix` and must read the map.
        let _ = std::process::Command::new("chmod")
            .arg("755")
            .arg(dir)
            .status();
        let postfix = PostfixBuilder::new(test)
            .hostname("fidelity-client.example.net")
            .set("transport_maps", &format!("texthash:{}", map.display()))
            .set("default_transport", "smtp")
            .set("relay_transport", "smtp")
            .set("smtp_connection_cache_on_demand", "no")
            .start()
            .expect("Postfix started as the reference, so it starts as the client");
        let queue_ids = (0..targets.len())
            .map(|i| submit(postfix.addr(), &recipient(i)))
            .collect();
        PostfixClient { postfix, queue_ids }
    }

    /// For each target: `on (WORKAROUNDS)` or `off`, then how the delivery
    /// ended (`sent`, `bounced`, `deferred`), from Postfix's log.
    fn outcomes(&self, targets: &[&Running]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let log = self.postfix.log();
            let cells: Vec<Option<String>> =
                self.queue_ids.iter().map(|q| outcome(&log, q)).collect();
            if cells.iter().all(Option::is_some) {
                return cells.into_iter().flatten().collect();
            }
            assert!(
                Instant::now() < deadline,
                "Postfix did not finish delivering to {:?}:\n{log}",
                targets.iter().map(|t| &t.label).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The address routed to target `i`: `postmaster`, which every product
/// accepts for its own domains, at a domain only the map knows.
fn recipient(i: usize) -> String {
    format!("postmaster@target{i}.fidelity.test")
}

/// `queue id: enabling PIX workarounds: disable_esmtp for …` and
/// `queue id: to=<…>, …, status=sent (…)`.
fn outcome(log: &str, queue_id: &str) -> Option<String> {
    let mine = |l: &&str| l.contains(&format!(" {queue_id}: "));
    let status = log
        .lines()
        .filter(mine)
        .find_map(|l| l.split("status=").nth(1))?
        .split_whitespace()
        .next()?
        .to_string();
    let pix = log
        .lines()
        .filter(mine)
        .find_map(|l| l.split("enabling PIX workarounds: ").nth(1))
        .and_then(|w| w.split(" for ").next())
        .map(|w| format!("on ({w})"))
        .unwrap_or_else(|| "off".into());
    Some(format!("{pix}; {status}"))
}

/// One message into Postfix's smtpd; its queue id.
fn submit(addr: SocketAddr, rcpt: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect(addr).expect("connect to Postfix");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut reply = |send: &str| -> String {
        if !send.is_empty() {
            writer.write_all(send.as_bytes()).expect("write to Postfix");
        }
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("read from Postfix");
            assert!(n > 0, "Postfix closed after {send:?}");
            let done = line.as_bytes().get(3) != Some(&b'-');
            if done {
                return line.trim_end().to_string();
            }
        }
    };
    reply("");
    for line in [
        "HELO submitter.fidelity.test\r\n".to_string(),
        "MAIL FROM:<fidelity@fidelity-client.example.net>\r\n".into(),
        format!("RCPT TO:<{rcpt}>\r\n"),
        "DATA\r\n".into(),
    ] {
        let r = reply(&line);
        assert!(r.starts_with('2') || r.starts_with('3'), "{line:?}: {r}");
    }
    let queued = reply("Subject: fidelity table\r\n\r\nOne message per target.\r\n.\r\n");
    reply("QUIT\r\n");
    queued
        .rsplit(' ')
        .next()
        .filter(|_| queued.starts_with("250"))
        .unwrap_or_else(|| panic!("not queued: {queued}"))
        .to_string()
}
