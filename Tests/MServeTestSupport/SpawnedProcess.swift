public import Foundation
import CCloseOnExec
import CProcessSpawn
import Synchronization

/// A child process started with `posix_spawn`, its standard output and error on pipes this
/// process reads, and its standard input a pipe or `/dev/null`.
///
/// Instead of Foundation's `Process`: on Linux, `Process.run()` lists `/proc/self/fd` to close
/// every other descriptor in the child, and the toolchain's version copies each entry's whole
/// 256-byte name. With over about 1,350 descriptors open (a full suite running in parallel
/// holds 1,600 at its peak) an entry can sit at the very end of the listing's buffer, and the
/// copy reads past the buffer into an unmapped page: the whole test process crashed in
/// `Process.run()`. Here the child closes them itself (`posix_spawn_file_actions_addclosefrom_np`).
public final class SpawnedProcess: Sendable {
    /// Its process id.
    public let pid: Int32
    /// The read end of its standard output.
    public let standardOutput: FileHandle
    /// The read end of its standard error.
    public let standardError: FileHandle
    /// The write end of its standard input, when started with one.
    public let standardInput: FileHandle?
    /// Its wait status, once reaped.
    private let waitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments` in `environment`; with `input`, its standard input is
    /// a pipe (``standardInput``), else `/dev/null`. With `standardErrorFull`, its standard
    /// error pipe is filled (with newlines) before it starts: its first write there blocks
    /// until ``standardError`` is read, holding it at that point (``isWritingToAPipe``).
    public init(
        executable: URL, arguments: [String], environment: [String: String], input: Bool = false,
        standardErrorFull: Bool = false
    ) throws {
        func pipeEnds() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [0, 0]
            guard mserve_pipe_cloexec(&ends) == 0 else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
            return (ends[0], ends[1])
        }
        let output = try pipeEnds()
        let errors = try pipeEnds()
        if standardErrorFull {
            let flags = fcntl(errors.write, F_GETFL)
            _ = fcntl(errors.write, F_SETFL, flags | O_NONBLOCK)
            let filler = [UInt8](repeating: UInt8(ascii: "\n"), count: 4096)
            while write(errors.write, filler, filler.count) > 0 {}
            _ = fcntl(errors.write, F_SETFL, flags)
        }
        let inputEnds = input ? try pipeEnds() : nil
        let devNull = input ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            // The child's ends are the child's alone once it has started.
            close(output.write)
            close(errors.write)
            if let inputEnds { close(inputEnds.read) }
            if devNull >= 0 { close(devNull) }
        }
        let path = executable.path
        let argv = [path] + arguments
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let result = withCStrings(argv) { argvPointers in
            withCStrings(envp) { envpPointers in
                mserve_spawn(&child, path, argvPointers, envpPointers, inputEnds?.read ?? devNull, output.write, errors.write)
            }
        }
        guard result == 0 else {
            close(output.read)
            close(errors.read)
            if let inputEnds { close(inputEnds.write) }
            throw TestFailure("cannot start \(path): \(String(cString: strerror(result)))")
        }
        pid = child
        standardOutput = FileHandle(fileDescriptor: output.read, closeOnDealloc: true)
        standardError = FileHandle(fileDescriptor: errors.read, closeOnDealloc: true)
        standardInput = inputEnds.map { FileHandle(fileDescriptor: $0.write, closeOnDealloc: true) }
    }

    /// Whether it has not exited yet (reaps it once it has).
    public var isRunning: Bool {
        waitStatus.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
            return status == nil
        }
    }

    /// Whether one of its threads waits to write to a full pipe (the kernel's `wchan`).
    public var isWritingToAPipe: Bool {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.contains { task in
            // `pipe_write`, or `anon_pipe_write` in newer kernels.
            (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/wchan", encoding: .utf8))?.hasSuffix("pipe_write") == true
        }
    }

    /// Sends SIGTERM.
    public func terminate() { if isRunning { Glibc.kill(pid, SIGTERM) } }

    /// Sends SIGKILL.
    public func kill() { if isRunning { Glibc.kill(pid, SIGKILL) } }

    /// Blocks until it has exited: for synchronous code (a `defer`). In async code the overload
    /// that waits without a thread is chosen.
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Returns once it has exited, looking every 5 ms without holding a thread of the
    /// concurrency pool (two threads on two cores, shared by every test running at once).
    public func waitUntilExit() async {
        while isRunning { await idle(for: .milliseconds(5)) }
    }

    /// Its exit code, or the number of the signal that ended it (as Foundation's `Process`
    /// reports it); only meaningful once it has exited.
    public var terminationStatus: Int32 {
        let raw = waitStatus.withLock { $0 } ?? 0
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f
    }

    /// Its exit code when it exited by itself; nil while it runs or when a signal ended it.
    public var exitCode: Int32? {
        guard let raw = waitStatus.withLock({ $0 }), raw & 0x7f == 0 else { return nil }
        return (raw >> 8) & 0xff
    }

    deinit {
        if isRunning { Glibc.kill(pid, SIGKILL) }
    }

    /// Runs `executable ARGUMENTS` to its end (a compiler, say); returns its exit status and
    /// what it wrote to standard output and error. Waits without holding a thread of the
    /// concurrency pool: a compiler on a loaded machine takes seconds.
    public static func run(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        let process = try SpawnedProcess(executable: executable, arguments: arguments, environment: ProcessInfo.processInfo.environment)
        let output = ByteCollector()
        let errors = ByteCollector()
        output.collect(from: process.standardOutput)
        errors.collect(from: process.standardError)
        await process.waitUntilExit()
        await output.waitForEnd()
        await errors.waitForEnd()
        return (
            process.terminationStatus, String(decoding: output.bytes, as: UTF8.self), String(decoding: errors.bytes, as: UTF8.self)
        )
    }
}

/// Calls `body` with `strings` as a NULL-terminated array of C strings.
private func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}
