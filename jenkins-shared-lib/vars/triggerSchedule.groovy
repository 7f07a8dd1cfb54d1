// triggerSchedule: each key becomes the trigger-schedule CLI's own variable through withEnv (resources/trigger-schedule/
// options.json, from the CLI's option model), the token is bound by withCredentials, and the CLI does the rest.
import com.cloudbees.groovy.cps.NonCPS
import groovy.json.JsonOutput

def call(Map config = [:]) {
    Map settings = config ?: [:]
    if (settings.confirm) {
        input(message: settings.confirm instanceof Boolean ? 'Start ' + (settings.job ?: 'the plan') + '?' :
            settings.confirm, ok: 'Trigger')
    }
    Map metadata = readJSON(text: libraryResource('trigger-schedule/options.json'))
    String tmp = pwd(tmp: true)
    Map values = settings.findAll { it.value != null }
    values.resultFile = settings.resultFile ?: tmp + '/trigger-schedule-' + UUID.randomUUID() + '.json'
    List<String> cliEnv = cliEnvironment(metadata.options as Map, values)
    cliEnv << 'TRIGGER_SCHEDULE_CLI_PATH=' + (settings.cliPath ?: install(settings, tmp))
    Integer exitCode = null
    withEnv(cliEnv) {
        List bindings = [[settings.credentialsId, settings.tokenEnv ?: 'TRIGGER_SCHEDULE_TOKEN'], // and an OIDC ID token
            [settings.oidcCredentialsId, settings.idTokenEnv ?: 'TRIGGER_SCHEDULE_ID_TOKEN']].findAll { it[0] }
            .collect { string(credentialsId: it[0] as String, variable: it[1] as String) }
        withCredentials(bindings) {
            exitCode = runCli()
        }
    }
    Map document = fileExists(values.resultFile as String) ? readJSON(file: values.resultFile, returnPojo: true) : [:]
    if (exitCode != 0) {
        error(failureMessage(document, exitCode))
    }
    List triggers = document.triggers ?: []
    Map primary = triggers.find { it.run_id } ?: (triggers ? triggers[0] : [:])
    return [status: document.status, exitCode: exitCode, runId: primary.run_id, runUrl: primary.run_url,
        result: document]
}

@NonCPS  // the CLI's result file says what the code means, which triggers failed, or what to change
String failureMessage(Map document, Integer exitCode) {
    String problems = (document.triggers ?: []).findAll { !(it.status in ['succeeded', 'skipped', 'triggered']) }
        .collect { it.name + ': ' + it.status + (it.reason ? ' (' + it.reason + ')' : '') }.join('; ')
    return 'triggerSchedule: trigger-schedule exited with code ' + exitCode + ' (' + (document.exit_meaning ?:
        'see the log above') + '), status ' + (document.status ?: 'error') + ': ' + (problems ?: document.error ?:
        'the error is in the log above')
}

Integer runCli() { // every value is in the environment: nothing is ever interpolated into this text
    return sh(script: '''
        rm -f -- "$TRIGGER_SCHEDULE_RESULT_FILE"
        "$TRIGGER_SCHEDULE_CLI_PATH" run
    ''', returnStatus: true)
}

// Installs the core this library carries (its wheel, checked by hash by install.sh) into a cached venv.
String install(Map settings, String tmp) {
    String installer = libraryResource('trigger-schedule/install.sh')
    String wheel = 'trigger_schedule-' + versionOf(installer) + '-py3-none-any.whl'
    writeFile(file: tmp + '/trigger-schedule-install.sh', text: installer)
    writeFile(file: tmp + '/' + wheel, encoding: 'Base64',
        text: libraryResource(resource: 'trigger-schedule/' + wheel, encoding: 'Base64'))
    List<String> installEnv = ['TRIGGER_SCHEDULE_INSTALLER=' + tmp + '/trigger-schedule-install.sh',
        'TRIGGER_SCHEDULE_CORE_WHEEL=' + tmp + '/' + wheel]
    installEnv += settings.installSpec ? ['TRIGGER_SCHEDULE_INSTALL_SPEC=' + settings.installSpec] : []
    installEnv += settings.python ? ['TRIGGER_SCHEDULE_INSTALL_PYTHON=' + settings.python] : []
    String cliPath = ''
    withEnv(installEnv) {
        cliPath = sh(script: '''bash "$TRIGGER_SCHEDULE_INSTALLER"''', returnStdout: true).trim()
    }
    return cliPath
}

@NonCPS
String versionOf(String installer) {
    return (installer =~ /(?m)^VERSION=(\S+)$/)[0][1]
}

// Each known key's value as its variable, and every key's name and shape (TRIGGER_SCHEDULE_JENKINS_KEYS), which
// the CLI checks: an unknown key (with a did-you-mean) or a list for a single value stops it before anything runs.
@NonCPS
List<String> cliEnvironment(Map options, Map values) {
    Map shapes = values.collectEntries { key, value ->
        [key, value instanceof Map ? 'map' : value instanceof Collection ? 'list' : 'value'] }
    List<String> env = ['TRIGGER_SCHEDULE_JENKINS_KEYS=' + JsonOutput.toJson(shapes)]
    values.each { key, value ->
        Map option = options[key] as Map
        if (option == null) {
            return
        }
        String text = value.toString()
        if (option.separator && value instanceof Map) {
            text = value.collect { k, v -> k.toString() + option.separator + v }.join('\n')
        } else if (option.separator && value instanceof Collection) {
            text = value.collect { it.toString() }.join('\n')
        } else if (option.json && (value instanceof Map || value instanceof Collection)) {
            text = JsonOutput.toJson(value)
        }
        env << option.env + '=' + text
    }
    return env
}
