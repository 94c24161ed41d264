//! Placeholder values for one session.

use super::SessionInfo;
use crate::protocol::date::rfc5322_date;
use crate::scenario::Plan;
use crate::scenario::template::{Var, Vars};
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) struct SessionVars<'a> {
    pub plan: &'a Plan,
    pub info: &'a SessionInfo,
    pub client_ip: std::net::IpAddr,
    pub helo: Option<&'a str>,
    pub queue_id: &'a str,
}

impl Vars for SessionVars<'_> {
    fn write_var(&self, var: Var, out: &mut String) {
        let _ = match var {
            Var::Hostname => write!(out, "{}", self.plan.hostname),
            Var::Date => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                write!(out, "{}", rfc5322_date(now))
            }
            Var::ClientIp => write!(out, "{}", self.client_ip),
            Var::ClientPort => write!(out, "{}", self.info.peer.port()),
            Var::Helo => write!(out, "{}", self.helo.unwrap_or("")),
            Var::QueueId => write!(out, "{}", self.queue_id),
            Var::Session => write!(out, "{}", self.info.id),
            Var::MessageSize => write!(out, "{}", self.plan.limits.message_size),
        };
    }
}
