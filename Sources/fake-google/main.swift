import FakeGoogle
import Foundation

// `fake-google [--port N]`: the fake Google on loopback, for the benchmarks, the browser tests and the
// demo. Prints its base URL on the first line of stdout; with `--print-token ACCOUNT`, an access token for
// ACCOUNT on the second (the Drive benchmark's, which measures uploads, not OAuth).
var port = 0
if let index = CommandLine.arguments.firstIndex(of: "--port"), index + 1 < CommandLine.arguments.count {
    port = Int(CommandLine.arguments[index + 1]) ?? 0
}
let google = FakeGoogle()
// The benchmarks, the browser tests and the demo stop it with SIGTERM (or Ctrl-C): its uploads go with it.
let stopSignals = [SIGTERM, SIGINT].map { number in
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler {
        google.drive.removeStorage()
        exit(0)
    }
    source.resume()
    return source
}
try await google.run(port: port) { url in
    var lines = url.absoluteString + "\n"
    if let index = CommandLine.arguments.firstIndex(of: "--print-token"), index + 1 < CommandLine.arguments.count {
        lines += google.accessTokens.issue(account: CommandLine.arguments[index + 1], scope: "https://www.googleapis.com/auth/drive.file",
                                           lifetime: 24 * 3600) + "\n"
    }
    FileHandle.standardOutput.write(Data(lines.utf8))
}
