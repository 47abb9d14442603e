//! Policy files as specifications: shipped policies validate, invalid fixtures fail with their exact problems.
//!
//! One test binary for the area; each module is one file of specifications.

mod policies;
