//! A private, real Postfix (Debian's package) for tests: its own config,
//! queue and data directories in a temporary directory, `smtpd` on a free
//! loopback port, logging to a file there, stopped and removed on drop.
//! Nothing else on the machine is touched: no `/etc/postfix/main.cf`, no
//! port 25, no syslog. It needs root (Postfix's master starts as root and
//! drops to the `postfix` user), as the container CI runs in has.
//!
//! ```ignore
//! let pf = PostfixBuilder::new()
//!     .relayhost(harness.addr())
//!     .set("smtpd_forbid_bare_newline", "yes")
//!     .start()?;
//! // talk SMTP to pf.addr(); pf.log() for its maillog
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const POSTFIX: &str = "/usr/sbin/postfix";
const MASTER_CF: &str = "/etc/postfix/master.cf";

/// Settings of a Postfix to start.
pub struct PostfixBuilder {
    relayhost: Option<SocketAddr>,
    settings: Vec<(String, String)>,
}

/// A running private Postfix; stopped on drop.
pub struct Postfix {
    dir: PathBuf,
    addr: SocketAddr,
}

impl Default for PostfixBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PostfixBuilder {
    /// A Postfix relaying mail from loopback clients to nowhere yet.
    pub fn new() -> Self {
        PostfixBuilder {
            relayhost: None,
            settings: Vec::new(),
        }
    }

    /// Send every message to `addr` (`relayhost = [ip]:port`).
    pub fn relayhost(mut self, addr: SocketAddr) -> Self {
        self.relayhost = Some(addr);
        self
    }

    /// One `main.cf` parameter, written after the defaults (so it wins).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// Write the configuration and start it; `Err` says why not.
    pub fn start(self) -> Result<Postfix, String> {
        if !Path::new(POSTFIX).exists() {
            return Err(format!("{POSTFIX} is missing (apt-get install -y postfix)"));
        }
        let dir = fresh_dir()?;
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let postfix = Postfix {
            dir: dir.clone(),
            addr,
        };
        for sub in ["etc", "queue", "data"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("mkdir: {e}"))?;
        }
        // Postfix's daemons run as `postfix`: they must reach the
        // directory, and own the data directory.
        chmod(&dir, 0o755)?;
        run("chown", &["postfix", &dir.join("data").to_string_lossy()])?;
        std::fs::write(dir.join("etc/main.cf"), self.main_cf(&dir))
            .map_err(|e| format!("main.cf: {e}"))?;
        std::fs::write(dir.join("etc/master.cf"), master_cf(port)?)
            .map_err(|e| format!("master.cf: {e}"))?;
        // `start` waits (`master -w`) until the master has bound its
        // listeners, so the port answers once this returns.
        postfix.command("start")?;
        Ok(postfix)
    }

    fn main_cf(&self, dir: &Path) -> String {
        let d = dir.display();
        let mut cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {d}/queue\n\
             data_directory = {d}/data\n\
             maillog_file = {d}/maillog\n\
             maillog_file_prefixes = {d}\n\
             myhostname = gateway.example.test\n\
             mydomain = example.test\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             mydestination =\n\
             mynetworks = 127.0.0.0/8\n\
             smtpd_relay_restrictions = permit_mynetworks, reject\n\
             alias_maps =\n\
             alias_database =\n\
             local_recipient_maps =\n\
             # One message per connection to the relay host, so each\n\
             # delivery is one session there.\n\
             smtp_connection_cache_on_demand = no\n"
        );
        if let Some(relay) = self.relayhost {
            cf.push_str(&format!("relayhost = [{}]:{}\n", relay.ip(), relay.port()));
        }
        for (k, v) in &self.settings {
            cf.push_str(&format!("{k} = {v}\n"));
        }
        cf
    }
}

impl Postfix {
    /// Where its `smtpd` listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its mail log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    fn command(&self, action: &str) -> Result<(), String> {
        let conf = self.dir.join("etc");
        run(POSTFIX, &["-c", &conf.to_string_lossy(), action])
            .map_err(|e| format!("{e}\n--- maillog:\n{}", self.log()))
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // `stop` waits for the master to exit; `abort` if it will not.
        if self.command("stop").is_err() {
            let _ = self.command("abort");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's master.cf with every service out of the chroot (there is no
/// chroot set up in a temporary directory) and `smtpd` on `port` of
/// loopback only.
fn master_cf(port: u16) -> Result<String, String> {
    let stock = std::fs::read_to_string(MASTER_CF).map_err(|e| format!("{MASTER_CF}: {e}"))?;
    let mut out = String::new();
    for line in stock.lines() {
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        let service = !line.starts_with(['#', ' ', '\t']) && fields.len() >= 8;
        if !service {
            out.push_str(line);
        } else if fields[0] == "smtp" && fields[1] == "inet" {
            out.push_str(&format!("127.0.0.1:{port} inet n - n - - smtpd"));
        } else if fields[1] == "inet" {
            // Only our smtpd listens.
            continue;
        } else {
            fields[4] = "n";
            out.push_str(&fields.join(" "));
        }
        out.push('\n');
    }
    Ok(out)
}

fn fresh_dir() -> Result<PathBuf, String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "smtp-harness-postfix-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A loopback port nothing listens on now (bound and released: another
/// process could take it in between, which on a test machine is rare and
/// shows as a start failure naming the port).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

fn chmod(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether a private Postfix can run here; `None` after a loud SKIP line
/// (the test must then return), a panic under `CI=true` (CI runs
/// `.ci/setup` as root, which installs Postfix).
pub fn require(test: &str) -> Option<()> {
    let why = if !Path::new(POSTFIX).exists() {
        "Postfix is not installed; install it with `apt-get install -y postfix` (`.ci/setup` does)"
    } else if !is_root() {
        "a private Postfix needs root (its master starts as root and drops to `postfix`)"
    } else {
        return Some(());
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}");
    }
    eprintln!("SKIP {test}: {why}");
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
