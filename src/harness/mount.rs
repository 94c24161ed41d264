//! Mounting a [`Rule`] on a running [`MockServer`]: new sessions get it
//! (ahead of the scenario's rules, like a rule added over the control API)
//! and its `expect` is counted with the server's expectations.

use super::MockServer;
use crate::expect::sealed::Parts;
use crate::expect::{Expect, ExpectGuard, ExpectationSource};
use crate::scenario::Rule;
use crate::scenario::model::RuleSpec;
use serde_saphyr::{Location as YamlLocation, Spanned};
use std::convert::Infallible;
use std::panic::Location;

impl Rule {
    /// Add this rule to a running server: sessions that start from now on
    /// try it first. With [`expect`](Rule::expect), its replies are counted
    /// and checked by `verify()` and when the server drops; the report names
    /// this line. Synchronous: call it from async and blocking tests alike.
    /// Its name (by default the line that mounted it) must be free among
    /// the mounted rules; a taken one gets ` #2`, ` #3`…
    /// [`MockServer::set_scenario`] keeps it, ahead of the new scenario's
    /// rules; a scenario put over the control API (`PUT /scenario`)
    /// replaces everything, this rule included.
    ///
    /// ```
    /// use smtp_harness::{MockServer, Rule, Scenario};
    /// use std::io::{Read, Write};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = MockServer::start_blocking(Scenario::default())?;
    /// Rule::verb("MAIL").reply("451 4.3.0 try later").expect(1).mount(&server);
    /// let mut sock = std::net::TcpStream::connect(server.addr())?;
    /// sock.write_all(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n")?;
    /// let mut replies = String::new();
    /// sock.read_to_string(&mut replies)?;
    /// assert!(replies.contains("451 4.3.0 try later"));
    /// server.wait_for_sessions_blocking(1)?;
    /// server.verify(); // the rule answered once
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// When the rule does not compile into the scenario (a mistake in the
    /// test), with the reason and the test's line.
    #[track_caller]
    pub fn mount(self, server: &MockServer) {
        let _ = mount(self, server, ExpectationSource::Mounted, Location::caller());
    }

    /// [`mount`](Rule::mount) until the returned guard drops: then the rule
    /// is removed and its expectation checked alone (for helper functions).
    #[track_caller]
    pub fn mount_as_scoped(self, server: &MockServer) -> RuleGuard<'_> {
        let (name, expect) = mount(self, server, ExpectationSource::Scoped, Location::caller());
        RuleGuard {
            server,
            name,
            expect,
        }
    }
}

/// Add the rule; returns its name and, when it counts, the guard of its
/// expectation.
#[track_caller]
fn mount<'a>(
    rule: Rule,
    server: &'a MockServer,
    source: ExpectationSource,
    at: &'static Location<'static>,
) -> (String, Option<ExpectGuard<'a>>) {
    let (mut spec, expect) = rule.into_parts();
    // Held across the edit so a concurrent `set_scenario` sees the rule in
    // the list or in the scenario, never in neither.
    let mut mounted = server.mounted_rules();
    // Rules are counted and removed by name: one mounted again from the
    // same line (a helper, a loop) or under a name in use gets ` #2`, ` #3`…
    let base = spec
        .name
        .take()
        .unwrap_or_else(|| format!("rule mounted at {at}"));
    let taken = |n: &str| mounted.iter().any(|r| r.value.name.as_deref() == Some(n));
    let mut name = base.clone();
    for n in 2.. {
        if !taken(&name) {
            break;
        }
        name = format!("{base} #{n}");
    }
    spec.name = Some(name.clone());
    let crate::expect::sealed::Mount { set, recorder } = server.expectation_parts();
    // Replies count from before the rule is in, so none is missed.
    let since = recorder.now_us();
    let spec = Spanned::new(spec, YamlLocation::UNKNOWN, YamlLocation::UNKNOWN);
    let added = server.shared().edit_scenario("<mounted rule>", |model| {
        model.rules.insert(0, spec.clone());
        Ok::<_, Infallible>(())
    });
    if let Err(e) = added {
        panic!("cannot mount rule {name:?}: {e}");
    }
    mounted.insert(0, spec);
    drop(mounted);
    let id = expect.map(|(e, _)| {
        let times = e.times.map_or(crate::Times::AT_LEAST_ONCE, |t| t.value.0);
        let expect = Expect::replies_of_rule(&name).named(&name).expect(times);
        set.mount(expect, since, source, Some(at))
    });
    recorder.control(
        "rule-added",
        format!("{name:?} at index 0, mounted at {at}"),
    );
    // Only a scoped rule's expectation leaves with its guard; a mounted
    // one stays until the server drops.
    let guard = id
        .filter(|_| source == ExpectationSource::Scoped)
        .map(|id| ExpectGuard::new(set, recorder, id));
    (name, guard)
}

/// A scoped rule: removed, and its expectation checked alone, when this is
/// dropped (panicking with a report when unmet, unless the thread is
/// already panicking).
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Rule, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = MockServer::start_blocking(Scenario::default())?;
/// {
///     let _busy = Rule::verb("MAIL").reply("451 4.3.0 try again later").expect(1).mount_as_scoped(&server);
///     let replies = talk(server.addr(), &["EHLO c", "MAIL FROM:<a@example.com>", "QUIT"])?;
///     assert!(replies[2].starts_with("451"));
///     server.wait_for_sessions_blocking(1)?;
/// } // removed (and checked) here: new sessions get the scenario's answer again
/// let replies = talk(server.addr(), &["EHLO c", "MAIL FROM:<a@example.com>", "QUIT"])?;
/// assert!(replies[2].starts_with("250"));
/// # Ok(()) }
/// ```
#[must_use = "a scoped rule is removed when its guard is dropped"]
#[derive(Debug)]
pub struct RuleGuard<'a> {
    server: &'a MockServer,
    name: String,
    /// Dropped after the rule is removed, which checks it.
    expect: Option<ExpectGuard<'a>>,
}

impl RuleGuard<'_> {
    /// Its expectation, counted so far (met when it has none).
    pub fn report(&self) -> crate::VerificationReport {
        match &self.expect {
            Some(e) => e.report(),
            None => crate::VerificationReport::default(),
        }
    }
}

impl Drop for RuleGuard<'_> {
    fn drop(&mut self) {
        let name = self.name.as_str();
        let named = |r: &Spanned<RuleSpec>| r.value.name.as_deref() == Some(name);
        let mut mounted = self.server.mounted_rules();
        mounted.retain(|r| !named(r));
        let removed = self
            .server
            .shared()
            .edit_scenario("<mounted rule>", |model| {
                let i = model.rules.iter().position(named).ok_or(())?;
                model.rules.remove(i);
                Ok::<_, ()>(())
            });
        if removed.is_ok() {
            self.server
                .shared()
                .recorder
                .control("rule-removed", format!("{name:?}: its scope ended"));
        }
    }
}
