"""Pure functions that turn raw crime records into clean events, H3 cells and weekly features."""
