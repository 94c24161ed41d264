//! nmap and its NSE scripts against one port of 127.0.0.1: the scripts'
//! rules only pick port 25 and friends, so each script is forced with `+`.

use std::process::Command;

/// `nmap -Pn -n -p PORT --script +SCRIPT [ARGS…] 127.0.0.1`: its standard
/// output, after asserting that nmap itself succeeded.
pub fn script(nmap: &str, port: u16, script: &str, args: &[&str]) -> String {
    scan(nmap, port, &[script], args)
}

/// One nmap run with several scripts (each forced with `+`) and any other
/// options (`-sV`): its standard output.
pub fn scan(nmap: &str, port: u16, scripts: &[&str], args: &[&str]) -> String {
    let forced: Vec<String> = scripts.iter().map(|s| format!("+{s}")).collect();
    let out = Command::new(nmap)
        .args(["-Pn", "-n", "-p", &port.to_string()])
        .args(["--script", &forced.join(",")])
        .args(args)
        .arg("127.0.0.1")
        .output()
        .expect("nmap runs");
    assert!(out.status.success(), "nmap failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines a script printed in nmap's normal output (`| ` / `|_`
/// prefixes removed), first line first: the text after `NAME:` on the
/// first line, then one entry per following line. `None` when the script
/// printed nothing.
pub fn script_output(out: &str, name: &str) -> Option<Vec<String>> {
    let mut lines = out.lines();
    let head = format!("{name}:");
    let first = lines.find_map(|l| {
        let body = l.strip_prefix("|_").or_else(|| l.strip_prefix("| "))?;
        body.strip_prefix(&head)
            .map(|rest| (l.starts_with("|_"), rest))
    })?;
    let mut found = vec![first.1.trim().to_string()];
    if first.0 {
        return Some(found);
    }
    for l in lines {
        let Some(body) = l.strip_prefix("|_").or_else(|| l.strip_prefix("| ")) else {
            break;
        };
        found.push(body.trim().to_string());
        if l.starts_with("|_") {
            break;
        }
    }
    Some(found)
}

/// The service and version nmap's `-sV` named for the port:
/// `smtp Microsoft ESMTP 6.0.3790.3959`.
pub fn service(out: &str, port: u16) -> Option<String> {
    let head = format!("{port}/tcp");
    let line = out.lines().find(|l| l.starts_with(&head))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    // PORT STATE SERVICE VERSION…
    (fields.len() >= 3).then(|| fields[2..].join(" "))
}
