//! Without `TrackingAllocator` as the global allocator, `memscope::measure`
//! would see no call and report zeros that pass every assertion: it panics
//! instead, saying what to add.

#[test]
#[should_panic(expected = "memscope::measure: the global allocator is not memscope::TrackingAllocator, so nothing can be measured; \
                           add `#[global_allocator] static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();`")]
fn measure_without_the_tracking_allocator_panics_with_the_fix() {
    let _ = memscope::measure(|| Box::new(1u8));
}

#[test]
#[should_panic(expected = "the global allocator is not memscope::TrackingAllocator")]
fn measure_with_threads_too() {
    let _ = memscope::measure_with_threads(|scope| scope.spawn(|| Box::new(1u8)).join());
}
