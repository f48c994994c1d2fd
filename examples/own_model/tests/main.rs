//! The example's tests, one module per concern, built as one test binary
//! (each test binary links the whole library).

mod own_loop;
mod own_model;
mod part_of_its_own;
