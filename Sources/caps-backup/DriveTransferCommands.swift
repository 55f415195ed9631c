import ArgumentParser

extension DriveCommand {
    /// sync, list and download: the commands that move archives (they need the Drive destination).
    static let transferCommands: [any ParsableCommand.Type] = []
}
