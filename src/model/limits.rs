//! How much text one task may carry, wherever it comes from (`cw task add`, MCP, an import):
//! every path checks the same numbers, so nothing stored is too big to hand to an agent.

/// The longest task title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// The longest task description (and verify or done text) accepted, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 256 * 1024;
/// The least urgent dispatch priority (0 is the most urgent; a new task gets 2).
pub const MAX_PRIORITY: i64 = 9;
