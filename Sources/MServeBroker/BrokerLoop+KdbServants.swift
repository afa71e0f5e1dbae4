// The broker loop's q servants: `kdb://host:port` servants reached over kdb+ IPC
// (KdbServantLinks.swift), each of capacity 1 and ready while logged in.

import Logging

extension BrokerLoop {
    /// Starts using the q servant at `kdb://host:port`: a servant of capacity 1, ready while
    /// its kdb+ IPC connection is logged in (KdbServantLinks.swift). It gets the broker's
    /// credentials when the broker was given it (`configured`), or when
    /// ``BrokerConfiguration/Servants/kdbCredentialsForAddedServants`` says servants added
    /// while it runs (the hub's) get them too.
    func addKdbServant(endpoint: String, configured: Bool) {
        let id = nextServantID
        let sendsCredentials = configured || configuration.servants.kdbCredentialsForAddedServants
        do {
            try kdbServants.add(servantID: id, endpoint: endpoint, sendsCredentials: sendsCredentials)
        } catch {
            logger.error("cannot use q servant \(endpoint): \(error)")
            return
        }
        nextServantID += 1
        let (host, port) = Self.hostAndPort(endpoint)
        let record = ServantRecord(id: id, endpoint: endpoint, routingID: [], name: "\(host):\(port)", host: host)
        servants[id] = record
        servantByEndpoint[endpoint] = id
        logger.info("servant added", metadata: record.logMetadata())
        if !sendsCredentials, !configuration.servants.kdbCredentials.isEmpty {
            logger.notice(
                "logging in to a q servant the broker was not given without --servant-auth's credentials (--servant-auth-hub sends them to the servants the hub lists)",
                metadata: record.logMetadata())
        }
    }

    /// A q servant holding a query past its deadline is reconnected, which frees it: q sends
    /// nothing back when an async handler fails, so such a servant would stay busy for ever.
    func resetKdbServantsPastDeadline() {
        for (id, tags) in kdbServants.pendingTags where tags.allSatisfy({ inFlight[$0]?.abandoned ?? true }) {
            kdbServants.reset(servantID: id, reason: ServantLoss.qNoAnswer.text)
            servantLost(id, reason: .qNoAnswer)
        }
    }

    func handleKdbServant(_ event: KdbServantEvent) {
        switch event {
        case .ready(let id):
            servants[id]?.connected = true
            // One query at a time; a q servant's connection is its session, so no incarnation.
            becomeReady(id, capacity: 1, batchLimit: 1, incarnation: 0)
        case .lost(let id, let reason):
            servants[id]?.connected = false
            servantLost(id, reason: .qConnectionFailed(reason))
        case .reply(let id, let tag, let message):
            // The servant saw the broker's tag in the id's place; completeQuery gives the client
            // its own id back, as for every servant (ReplyAssembly builds the reply).
            completeQuery(servantID: id, tag: tag, reply: .bytes(message), reportedExecution: nil)
        }
    }
}
