// triggerSchedule: start (and wait for) data-update jobs on a job scheduler with the trigger-schedule CLI.
// A thin mapping: each key becomes the CLI's own TRIGGER_SCHEDULE_* variable through withEnv, the token is bound by
// withCredentials, and `trigger-schedule run` does the work. Keys, types and defaults: vars/triggerSchedule.txt.
import com.cloudbees.groovy.cps.NonCPS
import groovy.json.JsonOutput
import groovy.transform.Field

// Every `trigger-schedule run` flag: key (the flag's name in camelCase) -> the variable the CLI reads for it.
// Mirrors trigger_schedule.cli.ALL_FLAGS; tests/faces/test_jenkins_step.py fails when the two drift apart.
@Field final Map<String, String> FLAG_ENV = [
    platform: 'TRIGGER_SCHEDULE_PLATFORM',
    url: 'TRIGGER_SCHEDULE_URL',
    job: 'TRIGGER_SCHEDULE_JOB',
    name: 'TRIGGER_SCHEDULE_NAME',
    param: 'TRIGGER_SCHEDULE_PARAM',
    params: 'TRIGGER_SCHEDULE_PARAMS',
    when: 'TRIGGER_SCHEDULE_WHEN',
    wait: 'TRIGGER_SCHEDULE_WAIT',
    timeout: 'TRIGGER_SCHEDULE_TIMEOUT',
    onTimeout: 'TRIGGER_SCHEDULE_ON_TIMEOUT',
    cancelOnInterrupt: 'TRIGGER_SCHEDULE_CANCEL_ON_INTERRUPT',
    pollInterval: 'TRIGGER_SCHEDULE_POLL_INTERVAL',
    pollMaxInterval: 'TRIGGER_SCHEDULE_POLL_MAX_INTERVAL',
    logs: 'TRIGGER_SCHEDULE_LOGS',
    description: 'TRIGGER_SCHEDULE_DESCRIPTION',
    gate: 'TRIGGER_SCHEDULE_GATE',
    delay: 'TRIGGER_SCHEDULE_DELAY',
    window: 'TRIGGER_SCHEDULE_WINDOW',
    concurrency: 'TRIGGER_SCHEDULE_CONCURRENCY',
    retries: 'TRIGGER_SCHEDULE_RETRIES',
    onFailure: 'TRIGGER_SCHEDULE_ON_FAILURE',
    notify: 'TRIGGER_SCHEDULE_NOTIFY',
    authType: 'TRIGGER_SCHEDULE_AUTH_TYPE',
    tokenFile: 'TRIGGER_SCHEDULE_TOKEN_FILE',
    usernameEnv: 'TRIGGER_SCHEDULE_USERNAME_ENV',
    passwordEnv: 'TRIGGER_SCHEDULE_PASSWORD_ENV',
    authHeader: 'TRIGGER_SCHEDULE_AUTH_HEADER',
    caBundle: 'TRIGGER_SCHEDULE_CA_BUNDLE',
    clientCert: 'TRIGGER_SCHEDULE_CLIENT_CERT',
    clientKey: 'TRIGGER_SCHEDULE_CLIENT_KEY',
    insecure: 'TRIGGER_SCHEDULE_INSECURE',
    header: 'TRIGGER_SCHEDULE_HEADER',
    connectTimeout: 'TRIGGER_SCHEDULE_CONNECT_TIMEOUT',
    readTimeout: 'TRIGGER_SCHEDULE_READ_TIMEOUT',
    maxAttempts: 'TRIGGER_SCHEDULE_MAX_ATTEMPTS',
    platformOptions: 'TRIGGER_SCHEDULE_PLATFORM_OPTIONS',
    config: 'TRIGGER_SCHEDULE_CONFIG',
    only: 'TRIGGER_SCHEDULE_ONLY',
    tokenEnv: 'TRIGGER_SCHEDULE_TOKEN_ENV',
    environment: 'TRIGGER_SCHEDULE_ENVIRONMENT',
    deployVersion: 'TRIGGER_SCHEDULE_DEPLOY_VERSION',
    previousVersion: 'TRIGGER_SCHEDULE_PREVIOUS_VERSION',
    deployStatus: 'TRIGGER_SCHEDULE_DEPLOY_STATUS',
    deployStrategy: 'TRIGGER_SCHEDULE_DEPLOY_STRATEGY',
    deployTime: 'TRIGGER_SCHEDULE_DEPLOY_TIME',
    deployUrl: 'TRIGGER_SCHEDULE_DEPLOY_URL',
    previousSha: 'TRIGGER_SCHEDULE_PREVIOUS_SHA',
    var: 'TRIGGER_SCHEDULE_VAR',
    forceNew: 'TRIGGER_SCHEDULE_FORCE_NEW',
    dryRun: 'TRIGGER_SCHEDULE_DRY_RUN',
    maxParallel: 'TRIGGER_SCHEDULE_MAX_PARALLEL',
    resultFile: 'TRIGGER_SCHEDULE_RESULT_FILE',
    junitFile: 'TRIGGER_SCHEDULE_JUNIT_FILE',
    auditFile: 'TRIGGER_SCHEDULE_AUDIT_FILE',
    dotenvFile: 'TRIGGER_SCHEDULE_DOTENV_FILE',
    debug: 'TRIGGER_SCHEDULE_DEBUG',
]

// The keys of this step itself, not of the CLI (see triggerSchedule.txt).
@Field final List<String> STEP_KEYS = ['credentialsId', 'installSpec', 'cliPath', 'python', 'confirm']

// Repeatable flags: a List gives one line each, a Map one KEY<separator>VALUE line each.
@Field final Map<String, String> MULTI_SEPARATOR = [param: '=', var: '=', header: ':']

// Flags that take YAML or JSON: a Map or List is written as JSON, so types survive.
@Field final List<String> JSON_KEYS = ['params', 'when', 'gate', 'window', 'retries', 'onFailure', 'notify',
    'platformOptions']

def call(Map config = [:]) {
    Map settings = config ?: [:]
    String problem = keyProblem(settings)
    if (problem) {
        error(problem)
    }
    if (settings.confirm) {
        String question = settings.confirm instanceof Boolean ? 'Start ' + (settings.job ?: 'the plan') + '?' :
            settings.confirm
        input(message: question, ok: 'Trigger')
    }
    String tmp = pwd(tmp: true)
    Map values = settings.findAll { it.value != null }
    values.resultFile = settings.resultFile ?: tmp + '/trigger-schedule-' + UUID.randomUUID() + '.json'
    List<String> cliEnv = cliEnvironment(values)
    cliEnv << 'TRIGGER_SCHEDULE_CLI_PATH=' + (settings.cliPath ?: install(settings, tmp))
    Integer exitCode = null
    withEnv(cliEnv) {
        if (settings.credentialsId) {
            String tokenVariable = settings.tokenEnv ?: 'TRIGGER_SCHEDULE_TOKEN'
            withCredentials([string(credentialsId: settings.credentialsId as String, variable: tokenVariable)]) {
                exitCode = runCli()
            }
        } else {
            exitCode = runCli()
        }
    }
    Map document = fileExists(values.resultFile as String) ? readJSON(file: values.resultFile, returnPojo: true) : [:]
    Map outcome = outcomeOf(document, exitCode)
    if (exitCode != 0) {
        error(failureMessage(outcome))
    }
    return outcome
}

// The CLI, run with every value in the environment: nothing is ever interpolated into this text.
Integer runCli() {
    return sh(script: '''
        rm -f -- "$TRIGGER_SCHEDULE_RESULT_FILE"
        "$TRIGGER_SCHEDULE_CLI_PATH" run
    ''', returnStatus: true)
}

// Installs the core this library carries (resources/trigger-schedule: its wheel, and install.sh, which checks the
// wheel's hash and installs the dependencies from the lock inside it) into a cached venv on the agent; returns
// the CLI's path. The core needs no network; the dependencies come from the agent's pip index, by hash.
String install(Map settings, String tmp) {
    String installer = libraryResource('trigger-schedule/install.sh')
    String wheelName = coreWheelName(installer)
    String wheel = tmp + '/' + wheelName
    writeFile(file: tmp + '/trigger-schedule-install.sh', text: installer)
    writeFile(file: wheel, encoding: 'Base64',
        text: libraryResource(resource: 'trigger-schedule/' + wheelName, encoding: 'Base64'))
    List<String> installEnv = ['TRIGGER_SCHEDULE_INSTALLER=' + tmp + '/trigger-schedule-install.sh',
        'TRIGGER_SCHEDULE_CORE_WHEEL=' + wheel]
    if (settings.installSpec) {
        installEnv << 'TRIGGER_SCHEDULE_INSTALL_SPEC=' + settings.installSpec
    }
    if (settings.python) {
        installEnv << 'TRIGGER_SCHEDULE_INSTALL_PYTHON=' + settings.python
    }
    String cliPath = ''
    withEnv(installEnv) {
        cliPath = sh(script: '''
            bash "$TRIGGER_SCHEDULE_INSTALLER"
        ''', returnStdout: true).trim()
    }
    return cliPath
}

// The wheel install.sh pins: trigger_schedule-<its VERSION>-py3-none-any.whl.
@NonCPS
String coreWheelName(String installer) {
    java.util.regex.Matcher version = installer =~ /(?m)^VERSION=(\S+)$/
    if (!version.find()) {
        error('trigger-schedule: resources/trigger-schedule/install.sh names no VERSION; the library is incomplete')
    }
    return 'trigger_schedule-' + version.group(1) + '-py3-none-any.whl'
}

// The CLI's variables for the given keys, in the order of FLAG_ENV.
@NonCPS
List<String> cliEnvironment(Map values) {
    return FLAG_ENV.findAll { key, name -> values[key] != null }.collect { key, name ->
        name + '=' + envValue(key, values[key])
    }
}

// The Map the step returns: the result file's status, the run of the first trigger that started one, the file itself.
@NonCPS
Map outcomeOf(Map document, Integer exitCode) {
    List triggers = document.triggers ?: []
    Map primary = triggers.find { it.run_id } ?: (triggers ? triggers[0] : [:])
    return [status: document.status ?: 'error', exitCode: exitCode, runId: primary.run_id, runUrl: primary.run_url,
            result: document]
}

@NonCPS
String failureMessage(Map outcome) {
    List<String> problems = (outcome.result.triggers ?: [])
        .findAll { !(it.status in ['succeeded', 'skipped', 'triggered', 'dry-run']) }
        .collect { it.name + ': ' + it.status + (it.reason ? ' (' + it.reason + ')' : '') }
    // The CLI's result file says what the code means and, for a config error, what to change.
    String meaning = outcome.result.exit_meaning ?: 'see the log above'
    String error = outcome.result.error ? ': ' + outcome.result.error : '; the error is in the log above'
    return 'triggerSchedule: trigger-schedule exited with code ' + outcome.exitCode + ' (' + meaning + '), status ' +
        outcome.status + (problems ? ': ' + problems.join('; ') : error)
}

// One key's value as the text of its variable.
@NonCPS
String envValue(String key, Object value) {
    if (MULTI_SEPARATOR.containsKey(key) && value instanceof Map) {
        return value.collect { k, v -> k.toString() + MULTI_SEPARATOR[key] + v }.join('\n')
    }
    if (MULTI_SEPARATOR.containsKey(key) && value instanceof Collection) {
        return value.collect { it.toString() }.join('\n')
    }
    if (JSON_KEYS.contains(key) && (value instanceof Map || value instanceof Collection)) {
        return JsonOutput.toJson(value)
    }
    return value.toString()
}

// Why these keys can't be used (an unknown key, a list for a single value), or null.
@NonCPS
String keyProblem(Map settings) {
    String unknown = settings.keySet().find { !FLAG_ENV.containsKey(it as String) && !STEP_KEYS.contains(it as String) }
    if (unknown) {
        return unknownKeyMessage(unknown)
    }
    String misfit = FLAG_ENV.keySet().find { String key ->
        (settings[key] instanceof Map || settings[key] instanceof Collection) &&
            !MULTI_SEPARATOR.containsKey(key) && !JSON_KEYS.contains(key)
    }
    return misfit ? "triggerSchedule: '" + misfit + "' takes a single value, not a list or map" : null
}

@NonCPS
String unknownKeyMessage(String key) {
    List<String> known = (FLAG_ENV.keySet() as List<String>) + STEP_KEYS
    String closest = known.min { distance(key.toLowerCase(), it.toLowerCase()) }
    String hint = distance(key.toLowerCase(), closest.toLowerCase()) <= Math.max(2, key.length().intdiv(3)) ?
        " Did you mean '" + closest + "'?" : ''
    return "triggerSchedule: unknown key '" + key + "'." + hint + ' Keys: ' + known.join(', ') +
        ' (see triggerSchedule.txt).'
}

// Levenshtein distance, for the did-you-mean of unknown keys.
@NonCPS
int distance(String a, String b) {
    int[] previous = (0..b.length()) as int[]
    for (int i = 1; i <= a.length(); i++) {
        int[] current = new int[b.length() + 1]
        current[0] = i
        for (int j = 1; j <= b.length(); j++) {
            int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1
            current[j] = Math.min(Math.min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost)
        }
        previous = current
    }
    return previous[b.length()]
}
