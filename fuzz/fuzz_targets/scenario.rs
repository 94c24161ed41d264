//! The scenario loader on arbitrary text: it must return a scenario or an
//! error — never panic, hang or allocate without bound (YAML bombs: aliases,
//! deep nesting, huge scalars).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_harness::Scenario;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(scenario) = Scenario::from_yaml(&text) {
        let _ = scenario.name();
    }
});
