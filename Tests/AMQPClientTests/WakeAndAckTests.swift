@testable import AMQPClient
import MistralActionsTestSupport
import Synchronization
import SystemSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func ackCommand(_ tag: UInt64) -> Command {
    .acknowledge(Acknowledgement(kind: .ack(multiple: false), deliveryTag: tag, channelIncarnation: 1))
}

private func tag(of command: Command) -> UInt64? {
    if case .acknowledge(let acknowledgement) = command {
        return acknowledgement.deliveryTag
    }
    return nil
}

@Suite("Connection thread wake-ups")
struct WakeUpTests {
    @Test("producers write the wake-up pipe only for a sleeping thread, once per sleep")
    func oneWriteWhileAsleep() {
        let shared = ConnectionShared()
        shared.state.withLock { $0.phase = .running }
        for value in 1...64 {
            shared.submit(ackCommand(UInt64(value)))
        }
        #expect(shared.wake.drain() == 0, "an awake thread is not woken")

        var taken: [Command] = []
        _ = shared.takeCommands(into: &taken)
        #expect(taken.count == 64)
        #expect(shared.prepareToSleep())
        for value in 65...192 {
            shared.submit(ackCommand(UInt64(value)))
        }
        #expect(shared.wake.drain() == 1, "128 commands for a sleeping thread: one write")
        #expect(!shared.prepareToSleep(), "queued commands keep the thread awake")
        taken.removeAll()
        _ = shared.takeCommands(into: &taken)
        #expect(taken.compactMap(tag(of:)) == (65...192).map(UInt64.init))
    }

    /// The classic lost wake-up: a command queued after the thread found the
    /// queue empty but before it entered poll(). The consumer below sleeps
    /// with a long timeout and widens that window on purpose; a lost wake-up
    /// shows as a poll() that ran into its timeout with work queued.
    @Test("many producers and a sleeping consumer: every command arrives, no wake-up is lost")
    func noLostWakeUp() async throws {
        let shared = ConnectionShared()
        shared.state.withLock { $0.phase = .running }
        let producers = 4
        let perProducer = 5_000
        let total = producers * perProducer
        let result = Mutex<(received: Int, lostWakeUps: Int, sleeps: Int, outOfOrder: Int)>((0, 0, 0, 0))

        startDetachedThread(name: "wake-test-consumer") {
            let descriptors = UnsafeMutablePointer<pollfd>.allocate(capacity: 2)
            defer { descriptors.deallocate() }
            var buffer: [Command] = []
            var received = 0
            var lost = 0
            var sleeps = 0
            var lastPerProducer = [UInt64](repeating: 0, count: producers)
            var outOfOrder = 0
            var round = 0
            while received < total {
                _ = shared.takeCommands(into: &buffer)
                for command in buffer {
                    guard let value = tag(of: command) else { continue }
                    let producer = Int(value >> 32)
                    if value <= lastPerProducer[producer] { outOfOrder += 1 }
                    lastPerProducer[producer] = value
                }
                received += buffer.count
                buffer.removeAll(keepingCapacity: true)
                if received == total { break }
                round += 1
                let widen = round.isMultiple(of: 3)
                let started = ContinuousClock.now
                let slept = shared.waitForWork(timeoutMilliseconds: 20_000, socket: nil, descriptors: descriptors) {
                    // Between the empty check and poll(): let producers run.
                    if widen { sched_yield() }
                }
                if slept {
                    sleeps += 1
                    if ContinuousClock.now - started >= .seconds(20) {
                        lost += 1
                    }
                }
            }
            result.withLock { $0 = (received, lost, sleeps, outOfOrder) }
        }

        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    for index in 1...perProducer {
                        shared.submit(ackCommand(UInt64(producer) << 32 | UInt64(index)))
                        if index.isMultiple(of: 64) {
                            // Give the consumer time to drain the queue and fall asleep.
                            usleep(50)
                        }
                    }
                }
            }
        }
        try await eventually("the consumer received every command", limit: .seconds(300)) {
            result.withLock { $0.received } == total
        }
        let final = result.withLock { $0 }
        #expect(final.received == total)
        #expect(final.lostWakeUps == 0)
        #expect(final.outOfOrder == 0, "each producer's commands arrive in order")
        #expect(final.sleeps > 0, "the consumer did sleep, so the wake-up path was exercised")
    }
}

@Suite("Acknowledgement coalescing")
struct UnackedDeliveriesTests {
    @Test func aRunFromTheLowestOutstandingTagBecomesOneMultipleAck() {
        var unacked = UnackedDeliveries()
        for value in 1...10 { unacked.delivered(UInt64(value)) }
        var plan: [UnackedDeliveries.Ack] = []
        unacked.coalesce([3, 1, 2, 4], into: &plan)
        #expect(plan == [.init(tag: 4, multiple: true)])
        #expect(unacked.count == 6)
    }

    @Test("a gap (a delivery nobody acked) is never covered by a multiple ack")
    func gapsStaySingle() {
        var unacked = UnackedDeliveries()
        for value in 1...10 { unacked.delivered(UInt64(value)) }
        var plan: [UnackedDeliveries.Ack] = []
        unacked.coalesce([1, 2, 4, 5, 7], into: &plan)
        #expect(plan == [.init(tag: 2, multiple: true), .init(tag: 4, multiple: false), .init(tag: 5, multiple: false), .init(tag: 7, multiple: false)])
        #expect(unacked.count == 5)
        plan.removeAll()
        // 3 is now the lowest outstanding tag: 3 with 4 and 5 gone leaves 6 in the way.
        unacked.coalesce([3, 6], into: &plan)
        #expect(plan == [.init(tag: 6, multiple: true)])
        plan.removeAll()
        unacked.coalesce([9], into: &plan)
        #expect(plan == [.init(tag: 9, multiple: false)], "8 is outstanding below 9")
        #expect(unacked.count == 2)
    }

    @Test("tags settled by other means (reject, nack, an earlier ack) do not block a run")
    func settledTagsAreSkipped() {
        var unacked = UnackedDeliveries()
        for value in 1...6 { unacked.delivered(UInt64(value)) }
        unacked.settle(2, multiple: false)
        unacked.settle(4, multiple: false)
        var plan: [UnackedDeliveries.Ack] = []
        unacked.coalesce([1, 3, 5], into: &plan)
        #expect(plan == [.init(tag: 5, multiple: true)])
        #expect(unacked.count == 1)
        unacked.settle(100, multiple: true)
        #expect(unacked.isEmpty)
    }

    @Test("repeats and unknown tags go out on their own so the broker answers them as before")
    func repeatsAndUnknownTags() {
        var unacked = UnackedDeliveries()
        for value in 1...3 { unacked.delivered(UInt64(value)) }
        var plan: [UnackedDeliveries.Ack] = []
        unacked.coalesce([1, 2, 2, 42], into: &plan)
        #expect(plan == [.init(tag: 2, multiple: true), .init(tag: 2, multiple: false), .init(tag: 42, multiple: false)])
        #expect(unacked.count == 1)
    }

    @Test("a single ack stays single; after a reset nothing old is outstanding")
    func singleAndReset() {
        var unacked = UnackedDeliveries()
        unacked.delivered(1)
        unacked.delivered(2)
        var plan: [UnackedDeliveries.Ack] = []
        unacked.coalesce([1], into: &plan)
        #expect(plan == [.init(tag: 1, multiple: false)])
        unacked.reset()
        unacked.delivered(1)
        plan.removeAll()
        unacked.coalesce([1, 2], into: &plan)
        #expect(plan == [.init(tag: 1, multiple: false), .init(tag: 2, multiple: false)])
    }

    @Test("tags that stop ascending (a broker bug) disable coalescing, never cover too much")
    func untrustedTags() {
        var unacked = UnackedDeliveries()
        for value: UInt64 in [5, 6, 3] { unacked.delivered(value) }
        #expect(!unacked.trusted)
        var plan: [UnackedDeliveries.Ack] = []
        unacked.coalesce([5, 6], into: &plan)
        #expect(plan == [.init(tag: 5, multiple: false), .init(tag: 6, multiple: false)])
        #expect(unacked.count == 1)
    }

    @Test("a long stream with random acknowledgement order covers exactly the tags acked")
    func randomizedAgainstAModel() {
        var generator = ReconnectScheduleTests.SeededRandom(state: 99)
        var unacked = UnackedDeliveries()
        var outstanding = Set<UInt64>()
        var nextTag: UInt64 = 1
        for _ in 0..<2_000 {
            let arrivals = Int(generator.next() % 8)
            for _ in 0..<arrivals {
                unacked.delivered(nextTag)
                outstanding.insert(nextTag)
                nextTag += 1
            }
            var batch: [UInt64] = []
            for tag in outstanding.sorted() where generator.next() % 3 == 0 {
                batch.append(tag)
            }
            var plan: [UnackedDeliveries.Ack] = []
            unacked.coalesce(batch, into: &plan)
            // What the broker would settle for this plan.
            var settled = Set<UInt64>()
            for ack in plan {
                if ack.multiple {
                    settled.formUnion(outstanding.filter { $0 <= ack.tag })
                } else {
                    settled.insert(ack.tag)
                }
            }
            #expect(settled == Set(batch))
            outstanding.subtract(batch)
            #expect(unacked.count == outstanding.count)
        }
    }
}
