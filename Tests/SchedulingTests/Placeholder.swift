import Testing
@Test func schedulingPlaceholder() {}
