//! Scenarios shipped inside the binary, so `serve exchange-2003` and
//! `Scenario::bundled("exchange-2003")` work from any directory.

/// Every file in `scenarios/`, by name (the file name without `.yaml`).
const BUNDLED: &[(&str, &str)] = &[
    (
        "postfix-default",
        include_str!("../../scenarios/postfix-default.yaml"),
    ),
    (
        "exchange-2003",
        include_str!("../../scenarios/exchange-2003.yaml"),
    ),
    (
        "exchange-2019",
        include_str!("../../scenarios/exchange-2019.yaml"),
    ),
    (
        "pix-mailguard",
        include_str!("../../scenarios/pix-mailguard.yaml"),
    ),
    (
        "asa-inspect-esmtp",
        include_str!("../../scenarios/asa-inspect-esmtp.yaml"),
    ),
    (
        "third-party-banner",
        include_str!("../../scenarios/third-party-banner.yaml"),
    ),
    (
        "exchange55-multi-domain-reroute",
        include_str!("../../scenarios/exchange55-multi-domain-reroute.yaml"),
    ),
    (
        "exchange55-relay-restricted",
        include_str!("../../scenarios/exchange55-relay-restricted.yaml"),
    ),
    (
        "exchange55-sp2-imcea-bug",
        include_str!("../../scenarios/exchange55-sp2-imcea-bug.yaml"),
    ),
    (
        "exchange55-ims-smtp-only",
        include_str!("../../scenarios/exchange55-ims-smtp-only.yaml"),
    ),
    (
        "exchange55-override-proxy-out",
        include_str!("../../scenarios/exchange55-override-proxy-out.yaml"),
    ),
    (
        "exchange2003-eas-proxy-address",
        include_str!("../../scenarios/exchange2003-eas-proxy-address.yaml"),
    ),
    (
        "smtp-smuggling-receiver",
        include_str!("../../scenarios/smtp-smuggling-receiver.yaml"),
    ),
];

/// The YAML of a bundled scenario.
pub fn text(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".yaml").unwrap_or(name);
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The names of all bundled scenarios, in listing order.
pub fn names() -> Vec<&'static str> {
    BUNDLED.iter().map(|(n, _)| *n).collect()
}
