import ArgumentParser
import BackupCore
import Destinations
import Foundation
import Server

/// `caps-backup drive …`: the off-site copy on Google Drive.
struct DriveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drive",
        abstract: "Off-site copies on Google Drive: connect, status, sync, list, download, disconnect.",
        discussion: "Needs the store's own OAuth client in the [google] section of the config file (see the README, \"Google Drive\").",
        subcommands: [DriveConnectCommand.self, DriveStatusCommand.self, DriveDisconnectCommand.self] + DriveCommand.transferCommands)
}

/// What the drive commands share: the config, the context and the connector over them.
struct DriveEnvironment {
    let context: BackupContext
    let config: GoogleConfig

    init(_ store: StoreOptions) throws {
        let service = try store.resolve()
        config = service.google
        context = try store.context()
    }

    var connector: GoogleDriveConnector { GoogleDriveConnector(context: context, config: config) }

    func requireClient() throws {
        guard config.clientId?.isEmpty == false, config.clientSecret?.isEmpty == false else {
            throw BackupError(.configuration, "Google Drive is not set up: put the store's OAuth client in the config file as [google] client_id and client_secret (README, section \"Google Drive\").")
        }
    }
}

struct DriveConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Connect Google Drive (scope drive.file: only the files this service creates).",
        discussion: """
            Without --device: prints a Google address to open in a browser on this computer (the answer comes back \
            to a loopback address, checked with PKCE and a state value). With --device, for a server without a \
            browser: prints an address and a code to enter on any phone or computer, and waits. \
            Exit codes: 0 connected, 3 access refused, 4 the code was not entered in time, 1 other errors.
            """)

    @Flag(name: .long, help: "Use a code entered on another device (needs an OAuth client of type \"TVs and Limited Input devices\").")
    var device = false

    @Flag(name: .long, help: "With --device: first a JSON line {verification_url, user_code, expires_in}, last a JSON line with the outcome.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let environment = try DriveEnvironment(store)
        try environment.requireClient()
        let connector = environment.connector
        let account: String
        do {
            let grant = device ? try await deviceGrant(connector.oauth) : try await codeGrant(connector.oauth)
            account = try await connector.complete(grant, actor: .system)
        } catch let failure as GoogleOAuth.Failure {
            let (state, code): (String, Int32) = switch failure {
            case .denied: ("denied", 3)
            case .expired: ("expired", 4)
            default: ("failed", 1)
            }
            if json { try line(["state": state, "message": failure.description]) }
            Output.error(failure.description)
            throw ExitCode(code)
        }
        let folder = "\(environment.config.folder)/\(environment.config.storeName ?? environment.context.host)"
        if json { try line(["state": "connected", "account": account, "folder": folder]) }
        Output.error("Google Drive is connected: account \(account). Backups are copied to the Drive folder \"\(folder)\".")
    }

    private func deviceGrant(_ oauth: GoogleOAuth) async throws -> GoogleOAuth.Grant {
        let device = try await oauth.startDeviceFlow()
        if json {
            struct First: Encodable { var verification_url: String; var user_code: String; var expires_in: Int }
            try line(First(verification_url: device.verificationURL, user_code: device.userCode, expires_in: device.expiresIn))
        } else {
            print("On a phone or computer, open \(device.verificationURL) and enter the code \(device.userCode) (within \(device.expiresIn / 60) minutes).")
        }
        Output.error("Waiting for the code to be entered…")
        return try await oauth.pollDeviceFlow(device) { try await Task.sleep(for: .seconds($0)) }
    }

    private func codeGrant(_ oauth: GoogleOAuth) async throws -> GoogleOAuth.Grant {
        let state = GoogleOAuth.CodeRequest(redirectURI: "").state
        let request = Locked<GoogleOAuth.CodeRequest?>(nil)
        let json = self.json
        let callback = try await LoopbackRedirectReceiver.receive(state: state) { redirect in
            var made = GoogleOAuth.CodeRequest(redirectURI: redirect)
            made.state = state
            request.withLock { $0 = made }
            let url = try oauth.authorizationURL(made)
            if json {
                try line(["authorization_url": url.absoluteString])
            } else {
                print("Open this address in a browser on this computer and allow access:\n\(url.absoluteString)")
            }
        }
        if callback.error == "access_denied" { throw GoogleOAuth.Failure.denied }
        guard let code = callback.code, let made = request.current else {
            throw GoogleOAuth.Failure.refused(callback.error ?? "no_code", "Google's answer held no authorization code")
        }
        return try await oauth.exchange(code: code, for: made)
    }
}

/// One compact JSON object on its own line, flushed (a script reads it while the command still runs).
private func line<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
}

struct DriveStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Connected account, folder, token state, last verified upload, pending uploads.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let environment = try DriveEnvironment(store)
        let status = try GoogleDriveStatus.load(context: environment.context, config: environment.config)
        if output.json { return try Output.json(status) }
        print(Table(["", ""], [
            ["Account", status.account ?? "-"],
            ["Folder", status.folder],
            ["Token", status.tokenState.rawValue],
            ["Copies", status.enabled ? "on" : "off" + (status.disabledReason.map { " (\($0))" } ?? "")],
            ["Connected", Output.localTime(status.connectedAt)],
            ["Last verified upload", Output.localTime(status.lastVerifiedUpload)],
            ["Pending uploads", String(status.pendingUploads)],
            ["Failed uploads", String(status.failedUploads)],
        ]).render().split(separator: "\n").dropFirst().joined(separator: "\n"))
        if status.tokenState == .revoked {
            Output.error("Google no longer accepts this service's access (removed in the Google account, or the OAuth app is in \"Testing\" status and its 7 days ran out). Reconnect: caps-backup drive connect")
        }
    }
}

struct DriveDisconnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disconnect",
                                                    abstract: "Revoke the access at Google, delete the tokens, and stop copying to Drive (copies already there stay).")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let environment = try DriveEnvironment(store)
        guard try environment.connector.store.connection != nil else { return print("Google Drive is not connected.") }
        let result = try await environment.connector.disconnect(actor: .system)
        if result.revokedAtGoogle {
            print("Google Drive is disconnected\(result.account.map { " (\($0))" } ?? ""): access revoked at Google and the tokens deleted. The copies on Drive stay.")
        } else {
            print("The tokens are deleted and no more copies go to Drive, but Google could not confirm the revocation: remove the app's access in the Google account to be sure.")
        }
    }
}
