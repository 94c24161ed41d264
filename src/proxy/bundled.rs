//! Profiles shipped inside the binary, so `proxy --profile pix-mailguard` and
//! `Profile::bundled("pix-mailguard")` work from any directory.

/// Every file in `profiles/`, by name (the file name without `.yaml`).
const BUNDLED: &[(&str, &str)] = &[
    (
        "transparent",
        include_str!("../../profiles/transparent.yaml"),
    ),
    (
        "pix-mailguard",
        include_str!("../../profiles/pix-mailguard.yaml"),
    ),
    (
        "asa-inspect-esmtp",
        include_str!("../../profiles/asa-inspect-esmtp.yaml"),
    ),
    (
        "starttls-strip",
        include_str!("../../profiles/starttls-strip.yaml"),
    ),
    (
        "exchange-reroute",
        include_str!("../../profiles/exchange-reroute.yaml"),
    ),
];

/// The YAML of a bundled profile.
pub fn text(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".yaml").unwrap_or(name);
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The names of all bundled profiles, in listing order.
pub fn names() -> Vec<&'static str> {
    BUNDLED.iter().map(|(n, _)| *n).collect()
}
