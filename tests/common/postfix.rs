//! A real Postfix (Debian's package, installed by `.ci/setup`) started by a
//! test as an instance of its own: its own `main.cf`/`master.cf` in a
//! temporary directory, its own queue and data directories under it, one
//! `smtpd` listening on a free 127.0.0.1 port and nothing else. The system
//! Postfix (`/etc/postfix`, `/var/spool/postfix`) is never read, written or
//! started, so this works on a machine where Postfix has no configuration at
//! all (`.ci/setup` installs it with "No configuration").
//!
//! How it runs, and why (all found by trying, as root in a container without
//! systemd or syslog):
//! - `postfix -c DIR check` creates the queue's subdirectories with Postfix's
//!   own owners and modes (a non-default `-c` directory is trusted as root,
//!   so it needs no `alternate_config_directories` in a system main.cf);
//! - `master -c DIR -d` then runs in the foreground as our child process, so
//!   it is ours to stop by its pid; SIGTERM makes it stop every daemon it
//!   started (smtpd, cleanup, qmgr …) before it exits;
//! - no daemon runs chrooted (the chroot column of our `master.cf` is `n`:
//!   a chroot in a temporary queue directory would lack /etc files);
//! - logging goes to `maillog_file` in the instance directory through
//!   `postlogd` (there is no syslog), and `Postfix::log` returns it for
//!   failure messages;
//! - every transport is `discard`, so an accepted message never leaves the
//!   box unless a test routes it somewhere with [`PostfixBuilder::set`]
//!   (e.g. `relayhost = [127.0.0.1]:PORT` and `default_transport = smtp`).
//!
//! The baseline `main.cf` is Debian 12's "Internet Site" one (postinst's
//! `main.cf.debian` + `main.cf.tls` + its `smtpd_relay_restrictions`) minus
//! Debian's banner suffix: `smtpd_banner` keeps Postfix's own default
//! `$myhostname ESMTP $mail_name`. Reuse:
//!
//! ```ignore
//! let Some(postfix) = PostfixBuilder::new("my_test")
//!     .set("smtpd_forbid_bare_newline", "yes")
//!     .start()
//! else {
//!     return; // not installed, and not under CI=true: skipped loudly
//! };
//! let mut c = RawClient::connect(postfix.addr()).await;
//! ```

use super::tools::{self, Tool};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const POSTFIX: Tool = Tool {
    name: "postfix (Debian's package)",
    probes: &[&["postconf", "-d", "mail_version"]],
    install: "apt-get install -y postfix",
};

/// Postfix's master runs as root (it binds, then drops each daemon to the
/// `postfix` user); CI runs as root (.ci/run).
pub const ROOT: Tool = Tool {
    name: "root privileges (Postfix's master runs as root)",
    probes: &[&["sh", "-c", "test \"$(id -u)\" = 0"]],
    install: "run the tests as root (CI does)",
};

/// Where Debian's package puts the daemons (`postconf -d daemon_directory`).
const DAEMONS: &str = "/usr/lib/postfix/sbin";

/// How long a start-up may take before the test fails with the log.
const START: Duration = Duration::from_secs(30);

/// Debian 12's generated main.cf ("Internet Site"), minus what names
/// system files an instance must not share; `{…}` filled in by `start`.
const BASELINE: &[(&str, &str)] = &[
    // main.cf.debian
    ("biff", "no"),
    ("append_dot_mydomain", "no"),
    ("readme_directory", "no"),
    ("compatibility_level", "3.6"),
    // main.cf.tls (the snakeoil pair comes with ssl-cert, a dependency of postfix)
    (
        "smtpd_tls_cert_file",
        "/etc/ssl/certs/ssl-cert-snakeoil.pem",
    ),
    (
        "smtpd_tls_key_file",
        "/etc/ssl/private/ssl-cert-snakeoil.key",
    ),
    ("smtpd_tls_security_level", "may"),
    ("smtp_tls_CApath", "/etc/ssl/certs"),
    ("smtp_tls_security_level", "may"),
    // postinst
    (
        "smtpd_relay_restrictions",
        "permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
    ),
    ("mydestination", "$myhostname, localhost"),
    ("relayhost", ""),
    ("mynetworks", "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"),
    ("mailbox_size_limit", "0"),
    ("recipient_delimiter", "+"),
    // An instance: /etc/aliases is the system's (and may have no .db).
    ("alias_maps", ""),
    ("alias_database", ""),
    // Loopback only; the listener itself is in master.cf.
    ("inet_interfaces", "127.0.0.1"),
    ("inet_protocols", "ipv4"),
    // Nothing leaves the box.
    ("default_transport", "discard"),
    ("relay_transport", "discard"),
    ("local_transport", "discard"),
    ("virtual_transport", "discard"),
];

/// The services an smtpd needs behind it; no chroot (see the module doc).
const MASTER_CF: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

/// What to start: the baseline plus a test's own main.cf settings.
pub struct PostfixBuilder {
    test: String,
    hostname: String,
    settings: Vec<(String, String)>,
}

impl PostfixBuilder {
    /// `test` names the test in skip and failure messages.
    pub fn new(test: &str) -> PostfixBuilder {
        PostfixBuilder {
            test: test.into(),
            hostname: "mail.example.com".into(),
            settings: Vec::new(),
        }
    }

    /// `myhostname` (default `mail.example.com`).
    pub fn hostname(mut self, name: &str) -> PostfixBuilder {
        self.hostname = name.into();
        self
    }

    /// Relay everything Postfix accepts to `addr` (a gateway in front of
    /// the harness): `relayhost`, SMTP transports instead of `discard`, and
    /// one connection per delivery, so each message is one session there.
    pub fn relayhost(self, addr: SocketAddr) -> PostfixBuilder {
        self.set("relayhost", &format!("[{}]:{}", addr.ip(), addr.port()))
            .set("default_transport", "smtp")
            .set("relay_transport", "smtp")
            .set("smtp_connection_cache_on_demand", "no")
    }

    /// One more main.cf setting; a later one replaces an earlier or a
    /// baseline one of the same name.
    pub fn set(mut self, name: &str, value: &str) -> PostfixBuilder {
        self.settings.retain(|(n, _)| n != name);
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Start it and wait for its banner. `None` (after a loud SKIP line)
    /// when Postfix is not installed outside CI; under `CI=true` that
    /// fails the test, as does any start-up failure (with the log).
    pub fn start(self) -> Option<Postfix> {
        tools::require(&POSTFIX, &self.test)?;
        tools::require(&ROOT, &self.test)?;
        let mut dir = tempfile::tempdir().expect("temporary directory");
        // The daemons drop to the `postfix` user, which must reach the
        // queue below this directory (tempdir makes it 0700).
        chmod(dir.path(), "755");
        let root = dir.path().to_path_buf();
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir(root.join(sub)).expect("instance directory");
        }
        run(
            Command::new("chown").arg("postfix").arg(root.join("data")),
            "chown data_directory",
        );
        // A free port can be taken by someone else between our probe and
        // master's bind: then try another one.
        let mut last_log = String::new();
        for _ in 0..3 {
            let addr = free_port();
            self.write_config(&root, addr);
            run(
                Command::new("postfix")
                    .arg("-c")
                    .arg(root.join("conf"))
                    .arg("check"),
                "postfix check",
            );
            let mut instance = Postfix::spawn(dir, addr);
            match instance.wait_ready() {
                Ok(()) => return Some(instance),
                Err(e) => {
                    last_log = format!("{e}\n--- maillog ---\n{}", instance.log());
                    instance.stop();
                    dir = instance.dir.take().expect("instance directory");
                }
            }
        }
        panic!("{}: Postfix did not start: {last_log}", self.test);
    }

    fn main_cf(&self, root: &Path) -> String {
        let path = |sub: &str| root.join(sub).display().to_string();
        let instance = [
            ("queue_directory", path("queue")),
            ("data_directory", path("data")),
            ("maillog_file", path("maillog")),
            ("maillog_file_prefixes", root.display().to_string()),
            ("myhostname", self.hostname.clone()),
        ];
        let mut settings: Vec<(String, String)> = BASELINE
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .chain(instance.into_iter().map(|(n, v)| (n.to_string(), v)))
            .filter(|(n, _)| !self.settings.iter().any(|(m, _)| m == n))
            .collect();
        settings.extend(self.settings.iter().cloned());
        settings
            .iter()
            .map(|(n, v)| format!("{n} = {v}\n"))
            .collect()
    }

    fn write_config(&self, root: &Path, addr: SocketAddr) {
        let conf = root.join("conf");
        std::fs::write(conf.join("main.cf"), self.main_cf(root)).expect("write main.cf");
        let listener = format!("{addr} inet n - n - - smtpd\n");
        std::fs::write(conf.join("master.cf"), listener + MASTER_CF).expect("write master.cf");
    }
}

/// A running Postfix instance; stopped and removed on drop.
pub struct Postfix {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    addr: SocketAddr,
}

impl Postfix {
    fn spawn(dir: tempfile::TempDir, addr: SocketAddr) -> Postfix {
        let out = std::fs::File::create(dir.path().join("master.out")).expect("master.out");
        let err = out.try_clone().expect("master.out");
        let child = Command::new(Path::new(DAEMONS).join("master"))
            .arg("-c")
            .arg(dir.path().join("conf"))
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("run Postfix's master");
        Postfix {
            child: Some(child),
            dir: Some(dir),
            addr,
        }
    }

    /// Ready once smtpd answers with its banner (master binds before it
    /// forks smtpd, so the connection queues until then).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("master exited: {status}"));
            }
            match banner(self.addr) {
                Ok(line) if line.starts_with("220 ") => return self.banner_was_ours(deadline),
                Ok(line) => return Err(format!("unexpected banner {line:?}")),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("no banner within {START:?}: {e}"));
                }
                // Not listening yet: master is still starting. A connect to
                // a closed loopback port fails at once, so pace the retries.
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The banner may have come from another test's Postfix that got the
    /// same free port first (ours then fails to bind and exits): ready only
    /// once our own smtpd has logged the probe's connection.
    fn banner_was_ours(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            if self.log().contains("]: connect from ") {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("master exited ({status}): its port was taken"));
            }
            if Instant::now() > deadline {
                return Err("a banner, but our smtpd never logged the connection".into());
            }
            // Waiting for our log to show a line it writes at once.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where its smtpd listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The instance's configuration directory (for `postconf -c`).
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("conf")
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().expect("instance directory").path()
    }

    /// Its log so far (master's own output, then `maillog`).
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.root().join(name)).unwrap_or_default();
        format!("{}{}", read("master.out"), read("maillog"))
    }

    /// `postconf -c DIR -h NAME`: a parameter as this instance sees it.
    pub fn postconf(&self, name: &str) -> String {
        let out = Command::new("postconf")
            .arg("-c")
            .arg(self.config_dir())
            .arg("-h")
            .arg(name)
            .output()
            .expect("run postconf");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// SIGTERM to master (it stops its daemons, then exits); SIGKILL if it
    /// has not within 10 s.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first line a server sends, within a few seconds.
fn banner(addr: SocketAddr) -> std::io::Result<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut line)?;
    // Leave politely, so the log does not fill with lost connections.
    let _ = std::io::Write::write_all(&mut &stream, b"QUIT\r\n");
    let _ = (&stream).read(&mut [0; 64]);
    Ok(line.trim_end().to_string())
}

/// A loopback port nobody listens on now.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

fn chmod(path: &Path, mode: &str) {
    run(Command::new("chmod").arg(mode).arg(path), "chmod");
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
