import groovy.json.JsonSlurper

import java.util.concurrent.TimeUnit

/** What Jenkins' `error` step throws (hudson.AbortException). */
class StepError extends RuntimeException {
    StepError(String message) { super(message) }
}

/** What an aborted `input` throws (FlowInterruptedException). */
class InputAborted extends RuntimeException {
    InputAborted(String message) { super(message) }
}

/**
 * A pipeline's view of one agent: the Jenkins steps vars/triggerSchedule.groovy uses, done for real (sh runs
 * `sh -xe script` like Jenkins' durable task, in the workspace, with the build's environment and the
 * withEnv/withCredentials overlay), each call recorded. Credential values never enter the record: in the
 * recorded environment of an sh call a bound credential reads '<credential>'.
 */
class Harness {
    File libDir
    File workspace
    File tmpDir
    Map<String, String> baseEnv = [:]
    Map<String, String> credentials = [:]
    String inputAnswer = 'proceed'
    long shTimeoutSeconds = 120

    List<Map> calls = []
    StringBuilder log = new StringBuilder()
    List<Map<String, String>> frames = []
    Set<String> secretVariables = [] as Set
    int shCount = 0

    Map<String, String> overlay() {
        Map<String, String> merged = [:]
        frames.each { merged.putAll(it) }
        return merged
    }

    Map<String, String> visibleEnv() {
        Map<String, String> merged = [:]
        merged.putAll(baseEnv)
        merged.putAll(overlay())
        return merged
    }

    private Map<String, String> recordedOverlay() {
        Map<String, String> shown = [:]
        overlay().each { k, v -> shown[k] = (k in secretVariables) ? '<credential>' : v }
        return shown
    }

    private File resolve(String path) {
        File file = new File(path)
        return file.absolute ? file : new File(workspace, path)
    }

    private Object withFrame(Map<String, String> frame, Closure body) {
        frames << frame
        try {
            return body.call()
        } finally {
            frames.remove(frames.size() - 1)
        }
    }

    Object sh(Object args) {
        Map options = args instanceof Map ? (Map) args : [script: args]
        String script = options.script as String
        boolean returnStatus = options.returnStatus as boolean
        boolean returnStdout = options.returnStdout as boolean
        Map call = [step: 'sh', script: script, returnStatus: returnStatus, returnStdout: returnStdout,
                    env: recordedOverlay()]
        calls << call
        shCount++
        File dir = new File(tmpDir, "durable-${shCount}")
        dir.mkdirs()
        File file = new File(dir, 'script.sh')
        file.setText(script, 'UTF-8')
        List<String> command = script.startsWith('#!') ? [file.path] : ['sh', '-xe', file.path]
        file.setExecutable(true)
        ProcessBuilder builder = new ProcessBuilder(command).directory(workspace)
        builder.environment().clear()
        builder.environment().putAll(visibleEnv())
        File out = new File(dir, 'stdout')
        File err = new File(dir, 'stderr')
        builder.redirectOutput(out).redirectError(returnStdout ? err : out)
        builder.redirectInput(ProcessBuilder.Redirect.from(new File('/dev/null')))
        Process process = builder.start()
        if (!process.waitFor(shTimeoutSeconds, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            process.waitFor(10, TimeUnit.SECONDS)
            throw new StepError("sh timed out after ${shTimeoutSeconds} s")
        }
        int code = process.exitValue()
        String stdout = out.getText('UTF-8')
        call.exitCode = code
        if (returnStdout) {
            call.stdout = stdout
            log << err.getText('UTF-8')
        } else {
            log << stdout
        }
        dir.deleteDir()
        if (returnStatus) {
            return code
        }
        if (code != 0) {
            throw new StepError("script returned exit code ${code}")
        }
        return returnStdout ? stdout : null
    }

    Binding binding() {
        Binding binding = new Binding()
        Harness self = this
        binding.setVariable('env', new PipelineEnv(self))
        binding.setVariable('sh', { Object args -> self.sh(args) })
        binding.setVariable('withEnv', { List entries, Closure body ->
            self.calls << [step: 'withEnv', env: entries.collect { it.toString() }]
            Map<String, String> frame = [:]
            entries.each { String entry = it.toString(); int at = entry.indexOf('='); frame[entry[0..<at]] = entry.substring(at + 1) }
            self.withFrame(frame, body)
        })
        binding.setVariable('string', { Map args -> [type: 'string'] + args })
        binding.setVariable('withCredentials', { List bindings, Closure body ->
            self.calls << [step: 'withCredentials', bindings: bindings.collect { [:] + it }]
            Map<String, String> frame = [:]
            bindings.each { Map b ->
                if (!self.credentials.containsKey(b.credentialsId)) {
                    throw new StepError("Could not find credentials entry with ID '${b.credentialsId}'")
                }
                frame[b.variable as String] = self.credentials[b.credentialsId]
                self.secretVariables << (b.variable as String)
            }
            self.withFrame(frame, body)
        })
        binding.setVariable('error', { Object message ->
            self.calls << [step: 'error', message: message.toString()]
            throw new StepError(message.toString())
        })
        binding.setVariable('echo', { Object message ->
            self.calls << [step: 'echo', message: message.toString()]
            self.log << message.toString() << '\n'
        })
        binding.setVariable('input', { Map args ->
            self.calls << [step: 'input', args: args.collectEntries { k, v -> [k, v.toString()] }]
            if (self.inputAnswer != 'proceed') {
                throw new InputAborted('Rejected by tester')
            }
            return null
        })
        binding.setVariable('pwd', { Map args = [:] ->
            self.calls << [step: 'pwd', args: args]
            return (args.tmp ? self.tmpDir : self.workspace).path
        })
        // Jenkins' writeFile: encoding 'Base64' decodes the text into bytes.
        binding.setVariable('writeFile', { Map args ->
            self.calls << [step: 'writeFile', file: args.file.toString(), length: args.text.toString().length(),
                           encoding: (args.encoding ?: 'UTF-8').toString()]
            File file = self.resolve(args.file.toString())
            file.parentFile.mkdirs()
            if (args.encoding == 'Base64') {
                file.bytes = args.text.toString().decodeBase64()
            } else {
                file.setText(args.text.toString(), (args.encoding ?: 'UTF-8') as String)
            }
        })
        binding.setVariable('fileExists', { Object path ->
            self.calls << [step: 'fileExists', file: path.toString()]
            return self.resolve(path.toString()).exists()
        })
        // Pipeline Utility Steps' readJSON: from a file, or from text.
        binding.setVariable('readJSON', { Map args ->
            self.calls << [step: 'readJSON', args: args.collectEntries { k, v -> [k, k == 'text' ? '<text>' : v.toString()] }]
            if (args.text != null) {
                return new JsonSlurper().parseText(args.text.toString())
            }
            return new JsonSlurper().parse(self.resolve(args.file.toString()), 'UTF-8')
        })
        // Jenkins' libraryResource: a path, or [resource: path, encoding: 'Base64'] for a binary file.
        binding.setVariable('libraryResource', { Object argument ->
            Map args = argument instanceof Map ? (Map) argument : [resource: argument]
            String path = args.resource.toString()
            self.calls << [step: 'libraryResource', resource: path, encoding: (args.encoding ?: 'UTF-8').toString()]
            File file = new File(self.libDir, 'resources/' + path)
            if (!file.file) {
                throw new StepError("No such library resource ${path} could be found.")
            }
            return args.encoding == 'Base64' ? file.bytes.encodeBase64().toString() : file.getText('UTF-8')
        })
        return binding
    }
}

/** The `env` global: the build's variables with the current withEnv/withCredentials overlay. */
class PipelineEnv {
    private final Harness harness

    PipelineEnv(Harness harness) { this.harness = harness }

    Object propertyMissing(String name) { harness.visibleEnv()[name] }

    Object getProperty(String name) { harness.visibleEnv()[name] }
}
