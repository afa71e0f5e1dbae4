import Foundation

/// The C baselines: small libzmq programs, compiled at run time with the system's C compiler
/// (`cc`, else `clang`) against the same libzmq MServe links, and run as processes of their
/// own so that their CPU time is theirs alone. Each prints its client endpoint on the first
/// line of standard output, as the servants and the broker do (``BenchProcess``).
enum CProgram: String, CaseIterable, Sendable {
    /// `proxy SERVANT…`: `zmq_proxy` between a ROUTER for the clients and a DEALER connected
    /// to every servant: a byte forwarder (the floor for a front process's CPU per query).
    case proxy
    /// `lbbroker BACKEND`: the ZeroMQ guide's load-balancing broker (lbbroker): a ROUTER for
    /// the clients, a ROUTER bound at BACKEND for the workers, an LRU queue of ready workers,
    /// one request at a time per worker; clients are read only while a worker is ready.
    case lbbroker
    /// `echoworker BACKEND N`: N REQ workers on threads of one process, connected to
    /// BACKEND; each says READY, then sends every request back as its reply (a `(id; query)`
    /// list is a valid `(id; result)` reply).
    case echoworker
    /// `msvecho INCARNATION READY`: a servant in C that speaks MServe's servant protocol
    /// (docs/PROTOCOL.md, section 2) and does nothing else: a ROUTER bound on loopback,
    /// READY (the IPC dictionary READY, in hex) to every HELLO, PONG to every PING, and each
    /// query of a QUERY back at once as the result of its REPLY (a `(id; query)` list is a
    /// valid `(id; result)` reply), all on one thread. Behind `mserve broker` in place of
    /// `mserve-bench serve`, it makes the broker's workers as cheap as the lbbroker's.
    case msvecho

    /// The executable, compiled on first use into a directory keyed by the source's hash.
    func executable() throws -> URL {
        let hash = String(UInt32(truncatingIfNeeded: Self.stableHash(source)), radix: 16)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mserve-bench-c-\(hash)")
        let binary = directory.appendingPathComponent(rawValue)
        if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sourceFile = directory.appendingPathComponent("\(rawValue).c")
        try source.write(to: sourceFile, atomically: true, encoding: .utf8)
        let partial = directory.appendingPathComponent("\(rawValue).\(getpid())")
        var failures: [String] = []
        for compiler in ["cc", "clang"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [compiler, "-O2", "-o", partial.path, sourceFile.path, "-lzmq", "-lpthread"]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            do { try BenchChildren.run(process) } catch {
                failures.append("\(compiler): \(error)")
                continue
            }
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            BenchChildren.ended(process.processIdentifier)
            if process.terminationStatus == 0 {
                // Renamed into place: a concurrent run never sees half a binary.
                if rename(partial.path, binary.path) != 0 { throw BenchError(.setup, "cannot install \(binary.path)") }
                return binary
            }
            failures.append("\(compiler): \(text.split(separator: "\n").prefix(3).joined(separator: " / "))")
        }
        throw BenchError(
            .setup,
            "cannot compile the C baseline \(rawValue) (needs a C compiler and libzmq's headers, scripts/setup): \(failures.joined(separator: "; "))"
        )
    }

    /// FNV-1a over the source: the same source, the same directory, in every run.
    private static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(14_695_981_039_346_656_037 as UInt64) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
    }

    /// Starts the program with `arguments` and waits for its endpoint line.
    func start(role: String, arguments: [String]) throws -> BenchProcess {
        try BenchProcess(role: role, executable: try executable(), arguments: arguments)
    }

    var source: String {
        switch self {
        case .proxy: Self.common + Self.proxySource
        case .lbbroker: Self.common + Self.lbbrokerSource
        case .echoworker: Self.common + Self.echoworkerSource
        case .msvecho: Self.common + Self.msvechoSource
        }
    }

    private static let common = """
        #include <zmq.h>
        #include <pthread.h>
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>

        static void *open_socket(void *context, int type) {
            void *socket = zmq_socket(context, type);
            int zero = 0;
            zmq_setsockopt(socket, ZMQ_SNDHWM, &zero, sizeof zero);
            zmq_setsockopt(socket, ZMQ_RCVHWM, &zero, sizeof zero);
            zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof zero);
            return socket;
        }

        /* The bench ignores SIGINT and SIGTERM (it handles them itself), and starts its
           children from threads that block every signal: an ignored signal stays ignored, and
           a blocked one blocked, across exec. Without this, SIGTERM would not stop these
           programs and every stop would wait for the SIGKILL that follows it. */
        static void default_signals(void) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
        }

        static void announce(void *socket) {
            char endpoint[256];
            size_t size = sizeof endpoint;
            zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &size);
            printf("%s\\n", endpoint);
            fflush(stdout);
        }

        /* Moves one frame from `from` to `to`, keeping its more flag; returns that flag, or -1. */
        static int move_frame(void *from, void *to, int extra_flags) {
            zmq_msg_t frame;
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, from, 0) < 0) { zmq_msg_close(&frame); return -1; }
            int more = zmq_msg_more(&frame);
            if (zmq_msg_send(&frame, to, (more ? ZMQ_SNDMORE : 0) | extra_flags) < 0) { zmq_msg_close(&frame); return -1; }
            return more;
        }

        """

    private static let proxySource = """
        int main(int argc, char **argv) {
            default_signals();
            void *context = zmq_ctx_new();
            void *frontend = open_socket(context, ZMQ_ROUTER);
            void *backend = open_socket(context, ZMQ_DEALER);
            if (zmq_bind(frontend, "tcp://127.0.0.1:*") != 0) { perror("bind"); return 1; }
            for (int i = 1; i < argc; i++)
                if (zmq_connect(backend, argv[i]) != 0) { perror("connect"); return 1; }
            announce(frontend);
            zmq_proxy(frontend, backend, NULL);
            return 0;
        }

        """

    private static let lbbrokerSource = """
        #define MAX_WORKERS 1024
        typedef struct { unsigned char bytes[256]; size_t size; } identity_t;

        static int receive_identity(void *socket, identity_t *identity) {
            int size = zmq_recv(socket, identity->bytes, sizeof identity->bytes, 0);
            if (size < 0 || size > (int)sizeof identity->bytes) return -1;
            identity->size = (size_t)size;
            return 0;
        }

        int main(int argc, char **argv) {
            default_signals();
            if (argc < 2) { fprintf(stderr, "usage: lbbroker BACKEND\\n"); return 2; }
            void *context = zmq_ctx_new();
            void *frontend = open_socket(context, ZMQ_ROUTER);
            void *backend = open_socket(context, ZMQ_ROUTER);
            if (zmq_bind(backend, argv[1]) != 0) { perror("bind backend"); return 1; }
            if (zmq_bind(frontend, "tcp://127.0.0.1:*") != 0) { perror("bind frontend"); return 1; }
            announce(frontend);
            /* Ready workers, least recently used first (a ring). */
            static identity_t ready[MAX_WORKERS];
            size_t first = 0, count = 0;
            while (1) {
                zmq_pollitem_t items[] = { { backend, 0, ZMQ_POLLIN, 0 }, { frontend, 0, ZMQ_POLLIN, 0 } };
                if (zmq_poll(items, count > 0 ? 2 : 1, -1) < 0) break;
                if (items[0].revents & ZMQ_POLLIN) {
                    /* [worker][""][READY] or [worker][""][client][reply] */
                    identity_t worker;
                    if (receive_identity(backend, &worker) != 0) break;
                    if (count < MAX_WORKERS) ready[(first + count++) % MAX_WORKERS] = worker;
                    char empty[1];
                    zmq_recv(backend, empty, sizeof empty, 0);
                    zmq_msg_t frame;
                    zmq_msg_init(&frame);
                    zmq_msg_recv(&frame, backend, 0);
                    if (zmq_msg_more(&frame)) {
                        /* The client's id, then the reply: passed on as they are. */
                        zmq_msg_send(&frame, frontend, ZMQ_SNDMORE);
                        while (move_frame(backend, frontend, 0) == 1) {}
                    } else {
                        zmq_msg_close(&frame);
                    }
                }
                if (count > 0 && (items[1].revents & ZMQ_POLLIN)) {
                    /* [client][request] to the least recently used worker: [worker][""][client][request] */
                    identity_t worker = ready[first];
                    first = (first + 1) % MAX_WORKERS;
                    count--;
                    zmq_send(backend, worker.bytes, worker.size, ZMQ_SNDMORE);
                    zmq_send(backend, "", 0, ZMQ_SNDMORE);
                    while (move_frame(frontend, backend, 0) == 1) {}
                }
            }
            return 0;
        }

        """

    private static let echoworkerSource = """
        static void *context;
        static const char *backend_endpoint;

        static void *work(void *unused) {
            (void)unused;
            void *socket = open_socket(context, ZMQ_REQ);
            if (zmq_connect(socket, backend_endpoint) != 0) { perror("connect"); exit(1); }
            zmq_send(socket, "READY", 5, 0);
            while (1) {
                /* [client][request] back as [client][request]: the request is the reply. */
                zmq_msg_t client, request;
                zmq_msg_init(&client);
                zmq_msg_init(&request);
                if (zmq_msg_recv(&client, socket, 0) < 0 || zmq_msg_recv(&request, socket, 0) < 0) break;
                zmq_msg_send(&client, socket, ZMQ_SNDMORE);
                zmq_msg_send(&request, socket, 0);
            }
            return NULL;
        }

        int main(int argc, char **argv) {
            default_signals();
            if (argc < 3) { fprintf(stderr, "usage: echoworker BACKEND WORKERS\\n"); return 2; }
            context = zmq_ctx_new();
            backend_endpoint = argv[1];
            int workers = atoi(argv[2]);
            pthread_t threads[256];
            if (workers < 1 || workers > 256) { fprintf(stderr, "WORKERS: 1 to 256\\n"); return 2; }
            for (int i = 0; i < workers; i++) pthread_create(&threads[i], NULL, work, NULL);
            printf("%s\\n", backend_endpoint);
            fflush(stdout);
            for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
            return 0;
        }

        """

    private static let msvechoSource = """
        #define MAX_FRAMES 80

        static int hex_value(char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        }

        static int is(zmq_msg_t *frame, const char *text) {
            size_t size = strlen(text);
            return zmq_msg_size(frame) == size && memcmp(zmq_msg_data(frame), text, size) == 0;
        }

        static void send_head(void *socket, zmq_msg_t *peer, const char *command) {
            zmq_send(socket, zmq_msg_data(peer), zmq_msg_size(peer), ZMQ_SNDMORE);
            zmq_send(socket, "MSV1", 4, ZMQ_SNDMORE);
            zmq_send(socket, command, strlen(command), ZMQ_SNDMORE);
        }

        int main(int argc, char **argv) {
            default_signals();
            if (argc < 3) { fprintf(stderr, "usage: msvecho INCARNATION READY_HEX\\n"); return 2; }
            unsigned long long incarnation = strtoull(argv[1], NULL, 10);
            unsigned char incarnation_bytes[8];
            for (int i = 0; i < 8; i++) incarnation_bytes[i] = (unsigned char)(incarnation >> (8 * i));
            size_t hex_size = strlen(argv[2]);
            if (hex_size % 2 != 0 || hex_size / 2 > 65536) { fprintf(stderr, "READY_HEX: an even number of hex digits\\n"); return 2; }
            static unsigned char ready[65536];
            size_t ready_size = hex_size / 2;
            for (size_t i = 0; i < ready_size; i++) {
                int high = hex_value(argv[2][2 * i]), low = hex_value(argv[2][2 * i + 1]);
                if (high < 0 || low < 0) { fprintf(stderr, "READY_HEX: lower-case hex digits only\\n"); return 2; }
                ready[i] = (unsigned char)(high * 16 + low);
            }
            const unsigned char no_time[8] = { 0 };
            void *context = zmq_ctx_new();
            void *socket = open_socket(context, ZMQ_ROUTER);
            if (zmq_bind(socket, "tcp://127.0.0.1:*") != 0) { perror("bind"); return 1; }
            announce(socket);
            zmq_msg_t frames[MAX_FRAMES];
            while (1) {
                /* [broker][MSV1][command][...]: at most MAX_FRAMES kept, the rest dropped. */
                int count = 0, more = 1;
                while (more) {
                    zmq_msg_t *frame = &frames[count < MAX_FRAMES ? count : MAX_FRAMES - 1];
                    if (count >= MAX_FRAMES) zmq_msg_close(frame);
                    zmq_msg_init(frame);
                    if (zmq_msg_recv(frame, socket, 0) < 0) return 1;
                    more = zmq_msg_more(frame);
                    if (count < MAX_FRAMES) count++;
                }
                if (count >= 3 && is(&frames[1], "MSV1")) {
                    if (is(&frames[2], "HELLO")) {
                        send_head(socket, &frames[0], "READY");
                        zmq_send(socket, ready, ready_size, 0);
                    } else if (is(&frames[2], "PING")) {
                        send_head(socket, &frames[0], "PONG");
                        zmq_send(socket, incarnation_bytes, 8, 0);
                    } else if (is(&frames[2], "QUERY")) {
                        /* Each [tag][message] pair back as REPLY [tag][message][time]. */
                        for (int i = 3; i + 1 < count; i += 2) {
                            send_head(socket, &frames[0], "REPLY");
                            zmq_msg_send(&frames[i], socket, ZMQ_SNDMORE);
                            zmq_msg_send(&frames[i + 1], socket, ZMQ_SNDMORE);
                            zmq_send(socket, no_time, 8, 0);
                        }
                    }
                }
                for (int i = 0; i < count; i++) zmq_msg_close(&frames[i]);
            }
            return 0;
        }

        """
}
