import FakeGoogle
import Foundation

// `fake-google [--port N]`: the fake Google on loopback, for the benchmarks, the browser tests and the
// demo. Prints its base URL on the first line of stdout.
var port = 0
if let index = CommandLine.arguments.firstIndex(of: "--port"), index + 1 < CommandLine.arguments.count {
    port = Int(CommandLine.arguments[index + 1]) ?? 0
}
let google = FakeGoogle()
try await google.run(port: port) { url in
    FileHandle.standardOutput.write(Data((url.absoluteString + "\n").utf8))
}
