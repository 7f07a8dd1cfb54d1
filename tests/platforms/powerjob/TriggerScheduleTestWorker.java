// A powerjob-worker (PowerJob 4.3.9) for the plug-in's tests and bench, started by powerjob_server.py.
// It does what powerjob-worker-agent's MainApplication does (that launcher is not on Maven Central) and
// adds three processors the test jobs name (processorType BUILT_IN, processorInfo = the class name).
// Usage: java -cp <classes>:<worker jars> TriggerScheduleTestWorker APP SERVER_HOST:PORT WORKER_PORT
import java.util.Collections;
import tech.powerjob.common.enums.Protocol;
import tech.powerjob.worker.PowerJobWorker;
import tech.powerjob.worker.common.PowerJobWorkerConfig;
import tech.powerjob.worker.common.constants.StoreStrategy;
import tech.powerjob.worker.core.processor.ProcessResult;
import tech.powerjob.worker.core.processor.TaskContext;
import tech.powerjob.worker.core.processor.sdk.BasicProcessor;

public class TriggerScheduleTestWorker {
    /** Succeeds; its result echoes the instanceParams it received. */
    public static class Echo implements BasicProcessor {
        @Override
        public ProcessResult process(TaskContext context) {
            context.getOmsLogger().info("echo received {}", context.getInstanceParams());
            return new ProcessResult(true, "echo: " + context.getInstanceParams());
        }
    }

    /** Fails with a fixed message. */
    public static class Fail implements BasicProcessor {
        @Override
        public ProcessResult process(TaskContext context) {
            return new ProcessResult(false, "boom: table missing");
        }
    }

    /** Sleeps for jobParams seconds; stopInstance interrupts it. */
    public static class Slow implements BasicProcessor {
        @Override
        public ProcessResult process(TaskContext context) throws InterruptedException {
            Thread.sleep(Long.parseLong(context.getJobParams().trim()) * 1000L);
            return new ProcessResult(true, "slow done");
        }
    }

    public static void main(String[] args) throws Exception {
        PowerJobWorkerConfig config = new PowerJobWorkerConfig();
        config.setAppName(args[0]);
        config.setServerAddress(Collections.singletonList(args[1]));
        config.setPort(Integer.parseInt(args[2]));
        config.setProtocol(Protocol.HTTP);
        config.setStoreStrategy(StoreStrategy.MEMORY);
        new PowerJobWorker(config).init();
    }
}
