//! Placeholder, replaced below.
use super::Demo;
pub fn render(_d: &Demo) -> String {
    String::new()
}
