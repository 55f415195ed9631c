import Foundation

/// A value handed to concurrent iterations that each touch a disjoint part of it.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
