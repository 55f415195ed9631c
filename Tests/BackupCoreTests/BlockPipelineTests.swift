@testable import BackupCore
import Foundation
import Testing

@Suite("The block pipeline behind parallel gzip")
struct BlockPipelineTests {
    @Test("Blocks are finished strictly in order, with no more in flight than there are slots", arguments: [(1, 1), (2, 4), (4, 3), (3, 8)])
    func order(workers: Int, slots: Int) throws {
        let log = Log()
        try BlockPipeline(blockCount: 200, slots: slots, workers: workers).run(
            produce: { block, slot, worker in
                #expect(slot == block % slots)
                #expect(worker < workers)
                log.produced(block, slots: slots)
            },
            finish: { block, _ in log.finished(block) })
        #expect(log.finishedBlocks == Array(0..<200))
        #expect(log.overrun == nil)
    }

    @Test("The first error stops the pipeline and is thrown; no later block is finished")
    func error() {
        struct Boom: Error {}
        let log = Log()
        #expect(throws: Boom.self) {
            try BlockPipeline(blockCount: 100, slots: 4, workers: 2).run(
                produce: { block, _, _ in if block == 37 { throw Boom() } },
                finish: { block, _ in log.finished(block) })
        }
        #expect(log.finishedBlocks == Array(0..<log.finishedBlocks.count))
        #expect(log.finishedBlocks.count <= 37)
    }
}

private final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var finishedList: [Int] = []
    private(set) var overrun: Int?
    var finishedBlocks: [Int] { lock.withLock { finishedList } }
    func produced(_ block: Int, slots: Int) {
        lock.withLock { if block - finishedList.count >= slots { overrun = block } }
    }
    func finished(_ block: Int) { lock.withLock { finishedList.append(block) } }
}
