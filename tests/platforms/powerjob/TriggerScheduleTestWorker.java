// A powerjob-worker (PowerJob 4.3.9) for the plug-in's tests and bench, started by powerjob_server.py.
// It does what powerjob-worker-agent's MainApplication does (that launcher is not on Maven Central) and
// adds the processors the test jobs name (processorType BUILT_IN, processorInfo = the class name).
// Usage: java -cp <classes>:<worker jars> TriggerScheduleTestWorker APP SERVER_HOST:PORT WORKER_PORT
import java.util.Collections;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

    /** Sleeps for the instanceParams' "seconds" (as the CLI sends it: {"seconds":"30",...}), for the bench. */
    public static class Nap implements BasicProcessor {
        private static final Pattern SECONDS = Pattern.compile("\"seconds\"\\s*:\\s*\"?([0-9.]+)");

        @Override
        public ProcessResult process(TaskContext context) throws InterruptedException {
            Matcher found = SECONDS.matcher(String.valueOf(context.getInstanceParams()));
            double seconds = found.find() ? Double.parseDouble(found.group(1)) : 1.0;
            Thread.sleep((long) (seconds * 1000));
            return new ProcessResult(true, "napped " + seconds + " s");
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
