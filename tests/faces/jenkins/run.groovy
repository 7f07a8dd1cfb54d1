// Runs scenarios against jenkins-shared-lib/vars/triggerSchedule.groovy in the Harness and writes what happened.
//   groovy -cp tests/faces/jenkins tests/faces/jenkins/run.groovy SPEC.json OUT.json
// SPEC: {"lib": dir, "scenarios": [{"name", "workspace", "config": {...} | "pipeline": "groovy text calling
//        triggerSchedule(...)", "env": {...}, "credentials": {id: value}, "input": "proceed" | "abort"}],
//        "parse": {"label": "groovy text"}}
// OUT:  {"keys": {flags, stepKeys}, "scenarios": [{name, calls, log, returned, error: {type, message}, ms}],
//        "parse": {label: null | error}}
import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

Map spec = new JsonSlurper().parse(new File(args[0]), 'UTF-8') as Map
File lib = new File(spec.lib as String)
File stepFile = new File(lib, 'vars/triggerSchedule.groovy')

Script loadStep(File stepFile, Binding binding) {
    Script step = new GroovyShell(this.class.classLoader, binding).parse(stepFile)
    step.binding = binding
    return step
}

Map output = [scenarios: [], parse: [:]]
// The key table the step reads, as the library ships it.
Map metadata = new JsonSlurper().parse(new File(lib, 'resources/trigger-schedule/options.json'), 'UTF-8') as Map
output.keys = [flags: metadata.options.collectEntries { k, v -> [k, v.env] }, stepKeys: metadata.stepKeys]

for (Map scenario in spec.scenarios) {
    File workspace = new File(scenario.workspace as String)
    workspace.mkdirs()
    Harness harness = new Harness(libDir: lib, workspace: workspace, tmpDir: new File(workspace.path + '@tmp'))
    harness.tmpDir.mkdirs()
    harness.baseEnv.putAll(System.getenv())
    harness.baseEnv.putAll([WORKSPACE: workspace.path, JENKINS_URL: 'http://jenkins.example/',
                            BUILD_URL: 'http://jenkins.example/job/app/7/', JOB_NAME: 'app', BUILD_NUMBER: '7',
                            BUILD_ID: '7', BUILD_TAG: 'jenkins-app-7', NODE_NAME: 'built-in'])
    harness.baseEnv.putAll((scenario.env ?: [:]) as Map<String, String>)
    harness.credentials.putAll((scenario.credentials ?: [:]) as Map<String, String>)
    harness.inputAnswer = (scenario.input ?: 'proceed') as String
    Binding binding = harness.binding()
    Script step = loadStep(stepFile, binding)
    Map record = [name: scenario.name]
    long started = System.currentTimeMillis()
    try {
        if (scenario.pipeline) {
            // As a Jenkinsfile calls it: the step is a global function named after its file.
            binding.setVariable('triggerSchedule', step.&call)
            record.returned = new GroovyShell(this.class.classLoader, binding).evaluate(scenario.pipeline as String)
        } else {
            record.returned = step.call((scenario.config ?: [:]) as Map)
        }
    } catch (Throwable thrown) {
        record.error = [type: thrown.class.simpleName, message: thrown.message]
    }
    record.ms = System.currentTimeMillis() - started
    record.calls = harness.calls
    record.log = harness.log.toString()
    output.scenarios << record
}

(spec.parse ?: [:]).each { String label, String text ->
    try {
        CompilationUnit unit = new CompilationUnit()
        unit.addSource(label, text)
        unit.compile(Phases.CONVERSION)
        output.parse[label] = null
    } catch (Exception problem) {
        output.parse[label] = problem.message
    }
}

new File(args[1]).setText(JsonOutput.toJson(output), 'UTF-8')
