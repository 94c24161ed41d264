//! The profile file as plain data: exactly what a YAML profile can say.
//!
//! Same dialect as scenarios (serde-saphyr, `deny_unknown_fields`, spans for
//! error locations, [`ReplyText`] and [`DurationSpec`] shared). Every field is
//! optional so that a profile states only how it interferes, and so that
//! `extends:` can merge section by section. Checking is `compile.rs`.

use crate::protocol::mask::BannerMask;
use crate::scenario::model::{DurationSpec, OneOrMany, ReplyText};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A whole profile file.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// `profile` (optional): says what this file is, so `validate` need
    /// not guess from its keys.
    #[schemars(with = "Option<crate::scenario::model::ProfileKindSchema>")]
    pub kind: Option<Spanned<crate::scenario::model::DocKind>>,
    /// Short name, shown by `smtp-harness profiles`.
    pub name: Option<String>,
    /// One line saying what the profile reproduces.
    pub description: Option<String>,
    /// A bundled profile name, or a path relative to this file, to start from.
    #[schemars(with = "Option<String>")]
    pub extends: Option<Spanned<String>>,
    /// Seed for every fault's dice, so a run can be repeated exactly.
    pub seed: Option<u64>,
    /// What happens to the upstream's greeting.
    pub banner: Option<BannerSpec>,
    /// Which commands may reach the upstream.
    pub verbs: Option<VerbsSpec>,
    /// Rewriting of the upstream's EHLO keywords.
    pub ehlo: Option<EhloSpec>,
    /// What happens to STARTTLS.
    pub starttls: Option<StarttlsSpec>,
    /// Domain rewriting on MAIL FROM / RCPT TO.
    pub addresses: Option<AddressSpec>,
    /// Upstream replies to replace; the first match wins.
    #[serde(default)]
    #[schemars(with = "Vec<ReplyRuleSpec>")]
    pub replies: Vec<Spanned<ReplyRuleSpec>>,
    /// Toxiproxy-style faults, each decided once per connection.
    #[serde(default)]
    #[schemars(with = "Vec<crate::scenario::model::ProxyFaultSchema>")]
    pub faults: Vec<Spanned<FaultSpec>>,
    /// How long the proxy waits on the upstream, and on a peer that does not read.
    pub timeouts: Option<TimeoutsSpec>,
}

/// `timeouts:` — every wait of the proxy is bounded. An upstream that
/// overruns one gets the client `421 4.4.2`; each must be above 0s.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSpec {
    /// Dialing the upstream (default 10s).
    #[schemars(with = "Option<DurationSpec>")]
    pub connect: Option<Spanned<DurationSpec>>,
    /// The upstream's greeting, once connected (default 5m, RFC 5321 4.5.3.2.1).
    #[schemars(with = "Option<DurationSpec>")]
    pub banner: Option<Spanned<DurationSpec>>,
    /// Each reply the upstream owes, from the command or its previous
    /// output (default 5m, RFC 5321 4.5.3.2).
    #[schemars(with = "Option<DurationSpec>")]
    pub reply: Option<Spanned<DurationSpec>>,
    /// A client or upstream that reads nothing while the proxy writes to it (default 5m).
    #[schemars(with = "Option<DurationSpec>")]
    pub write: Option<Spanned<DurationSpec>>,
    /// A client that sends nothing while it owes the next command or more
    /// message text (default 5m, RFC 5321 4.5.3.2.7's server timeout); then
    /// the client gets `421 4.4.2`.
    #[schemars(with = "Option<DurationSpec>")]
    pub idle: Option<Spanned<DurationSpec>>,
}

/// `banner:` — pass (the default, when empty), `replace`, or `mask`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BannerSpec {
    /// Send this greeting instead of the upstream's.
    #[schemars(with = "Option<ReplyText>")]
    pub replace: Option<Spanned<ReplyText>>,
    /// Overwrite the upstream's greeting in place: `pix` or `all`.
    #[schemars(with = "Option<BannerMask>")]
    pub mask: Option<Spanned<BannerMask>>,
}

/// What happens to a filtered command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterAction {
    /// The proxy answers with `reply`; the command never reaches the upstream.
    Answer,
    /// The verb is overwritten with `X`s of the same length and forwarded,
    /// so the upstream answers (what a PIX really does).
    Mask,
}

/// `verbs:` — an allow-list or a deny-list.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerbsSpec {
    /// Only these verbs pass.
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub allow: Option<Spanned<OneOrMany<String>>>,
    /// These verbs do not pass.
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub deny: Option<Spanned<OneOrMany<String>>>,
    /// `answer` (default) or `mask`.
    pub action: Option<FilterAction>,
    /// The reply for `answer` (default `500 5.5.1 Command unrecognized`).
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
}

/// `ehlo:` — applied to the upstream's 250 reply to EHLO, in this order:
/// remove, mask, add.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EhloSpec {
    /// Keywords to drop (by name: `AUTH` drops `AUTH LOGIN` and `AUTH=LOGIN`).
    pub remove: Option<Vec<String>>,
    /// Overwrite every keyword not named here with `X`s, as ASA does.
    pub mask_except: Option<Vec<String>>,
    /// Keywords to append.
    pub add: Option<Vec<String>>,
}

/// How STARTTLS is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StarttlsMode {
    /// Relay it; after the upstream's 220 relay opaque bytes both ways.
    Pass,
    /// Remove the keyword from EHLO replies and answer the verb ourselves.
    Strip,
}

/// `starttls:`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StarttlsSpec {
    /// `pass` (default) or `strip`.
    pub mode: Option<StarttlsMode>,
    /// The answer to STARTTLS when stripping (default
    /// `500 5.5.1 Command unrecognized`; `454 4.7.0 …` is the polite variant).
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
}

/// `addresses:` — domain maps, as Exchange's reroute table applies them.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressSpec {
    /// `old.domain: new.domain`, matched case-insensitively on the whole domain.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub domains: Option<Spanned<BTreeMap<String, String>>>,
    /// Rewrite MAIL FROM (default true).
    pub mail_from: Option<bool>,
    /// Rewrite RCPT TO (default true).
    pub rcpt_to: Option<bool>,
}

/// One entry of `replies:`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRuleSpec {
    /// A name for transcripts (default `reply-rule-N`).
    pub name: Option<String>,
    /// Only replies with this code (or one of these codes).
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub code: Option<Spanned<OneOrMany<String>>>,
    /// Only replies whose text (lines joined with `\n`, codes removed) matches this regex.
    #[schemars(with = "Option<String>")]
    pub text: Option<Spanned<String>>,
    /// Only replies to these verbs (`BANNER` for the greeting, `.` for end of data).
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub verb: Option<Spanned<OneOrMany<String>>>,
    /// The replacement.
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
}

/// `faults:` entries and their directions: the one fault model's YAML
/// shape, shared with scenarios.
pub use crate::scenario::model::{Direction, FaultSpec};
