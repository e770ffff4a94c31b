// completion.go: the bash, zsh and fish completion scripts, and the daemon
// names they ask for.

package main

import (
	"flag"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"text/template"

	"golang.org/x/sys/unix"
)

// completion prints the completion script of a shell, made from the
// command table. The script completes daemon names by running the
// command being completed, `launcher [-c FILE] __complete-names`.
func (c *cli) completion(args []string) error {
	if len(args) != 1 {
		return &usageError{cmd: c.cmd, msg: "name a shell: bash, zsh or fish"}
	}
	parsed, ok := completionScripts[args[0]]
	if !ok {
		return &usageError{cmd: c.cmd, msg: fmt.Sprintf("no completion for %q: bash, zsh or fish", args[0])}
	}
	return parsed().Execute(c.stdout, newCompletionData())
}

// completeNames prints the config's daemon names, one a line, for the
// completion scripts; nothing when the config cannot be read.
func (c *cli) completeNames(args []string) error {
	cfg, err := c.config()
	if err != nil {
		return nil // a completion has nothing to offer, and nowhere to say why
	}
	for _, n := range cfg.allNames() {
		fmt.Fprintln(c.stdout, n)
	}
	return nil
}

// completionData is what the scripts are made of.
type completionData struct {
	Commands []completionCommand
	// ValueFlags are the flags that take a value, as typed (--timeout,
	// -timeout, -n): the word after one is no operand.
	ValueFlags []string
	Signals    []string // HUP, INT, ...
	// Names lists the commands whose operands are daemon names.
	Names []string
}

type completionCommand struct {
	Name, Summary string
	Flags         []completionFlag
	Operands      operandKind
}

type completionFlag struct {
	Name  string // wait, n
	Typed string // --wait, -n
	Value bool   // takes a value
	Usage string
}

func newCompletionData() completionData {
	var d completionData
	seen := map[string]bool{}
	for _, cmd := range visibleCommands() {
		cc := completionCommand{Name: cmd.name, Summary: cmd.summary, Operands: cmd.operands}
		var o options
		cmd.flagSet(&o).VisitAll(func(f *flag.Flag) {
			_, usage := flag.UnquoteUsage(f)
			b, isBool := f.Value.(interface{ IsBoolFlag() bool })
			cf := completionFlag{Name: f.Name, Typed: flagName(f.Name), Value: !isBool || !b.IsBoolFlag(), Usage: usage}
			cc.Flags = append(cc.Flags, cf)
			if cf.Value && !seen[f.Name] {
				seen[f.Name] = true
				d.ValueFlags = append(d.ValueFlags, "-"+f.Name)
				if len(f.Name) > 1 {
					d.ValueFlags = append(d.ValueFlags, "--"+f.Name)
				}
			}
		})
		d.Commands = append(d.Commands, cc)
		if cmd.operands == daemonOperands {
			d.Names = append(d.Names, cmd.name)
		}
	}
	for sig := syscall.Signal(1); sig < 32; sig++ {
		if name := unix.SignalName(sig); name != "" {
			d.Signals = append(d.Signals, strings.TrimPrefix(name, "SIG"))
		}
	}
	return d
}

var completionFuncs = template.FuncMap{
	"join": strings.Join,
	// commandWords joins the names of cmds with sep.
	"commandWords": func(cmds []completionCommand, sep string) string {
		var w []string
		for _, c := range cmds {
			w = append(w, c.Name)
		}
		return strings.Join(w, sep)
	},
	"flagWords": func(flags []completionFlag) string {
		w := []string{"--help"}
		for _, f := range flags {
			w = append(w, f.Typed)
		}
		return strings.Join(w, " ")
	},
	// zshDescribe escapes a description for _describe.
	"zshDescribe": func(s string) string { return strings.ReplaceAll(s, ":", `\:`) },
	// quote single-quotes s for a shell.
	"quote": func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" },
}

// completionScripts are the scripts' templates, by shell, parsed when
// asked for: parsed at start-up, they were most of the CLI's own
// initialization (600 allocations, 0.2 ms), at every command.
var completionScripts = map[string]func() *template.Template{
	"bash": parsedOnce("bash", bashCompletion),
	"zsh":  parsedOnce("zsh", zshCompletion),
	"fish": parsedOnce("fish", fishCompletion),
}

func parsedOnce(name, text string) func() *template.Template {
	return sync.OnceValue(func() *template.Template {
		return template.Must(template.New(name).Funcs(completionFuncs).Parse(text))
	})
}

const bashCompletion = `# bash completion for launcher, made by "launcher completion bash".
# Load it with: source <(launcher completion bash)
# Daemon names come from "launcher [-c FILE] __complete-names".

_launcher() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local i word cmd= nops=0
	local -a cfg=()
	# "=" is a word of its own in COMP_WORDS: --timeout = 5s.
	[[ $prev == = ]] && prev=${COMP_WORDS[COMP_CWORD-2]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		[[ ${COMP_WORDS[i+1]} == = ]] && ((i++))
		if [[ -z $cmd ]]; then
			case $word in
			-c|-config|--config) cfg=(-c "${COMP_WORDS[i+1]}"); ((i++)) ;;
			-*) ;;
			*) cmd=$word ;;
			esac
		else
			case $word in
			{{join .ValueFlags "|"}}) ((i++)) ;;
			-*) ;;
			*) ((nops++)) ;;
			esac
		fi
	done
	COMPREPLY=()
	case $prev in
	-c|-config|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	{{join .ValueFlags "|"}}) [[ -n $cmd ]] && return ;;
	esac
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-c --config --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "{{commandWords .Commands " "}}" -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		case $cmd in
{{- range .Commands}}
		{{.Name}}) COMPREPLY=($(compgen -W "{{flagWords .Flags}}" -- "$cur")) ;;
{{- end}}
		esac
		return
	fi
	local words=
	case $cmd in
	{{join .Names "|"}}) words=$("${COMP_WORDS[0]}" "${cfg[@]}" __complete-names 2>/dev/null) ;;
	signal)
		if ((nops == 0)); then
			words="{{join .Signals " "}}"
		else
			words=$("${COMP_WORDS[0]}" "${cfg[@]}" __complete-names 2>/dev/null)
		fi ;;
	help) ((nops == 0)) && words="{{commandWords .Commands " "}}" ;;
	completion) ((nops == 0)) && words="bash zsh fish" ;;
	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _launcher launcher
`

const zshCompletion = `#compdef launcher
# zsh completion for launcher, made by "launcher completion zsh".
# Install it with: launcher completion zsh > "${fpath[1]}/_launcher"
# or load it with: source <(launcher completion zsh)
# Daemon names come from "launcher [-c FILE] __complete-names".

_launcher() {
	local -a cfg names commands
	local cmd w i nops=0
	for ((i = 2; i < CURRENT; i++)); do
		w=${words[i]}
		if [[ -z $cmd ]]; then
			case $w in
			(-c|-config|--config) cfg=(-c "${words[i+1]}"); ((i++)) ;;
			(-c=*|-config=*|--config=*) cfg=("$w") ;;
			(-*) ;;
			(*) cmd=$w ;;
			esac
		else
			case $w in
			({{join .ValueFlags "|"}}) ((i++)) ;;
			(-*) ;;
			(*) ((nops++)) ;;
			esac
		fi
	done
	case ${words[CURRENT-1]} in
	(-c|-config|--config) _files; return ;;
	({{join .ValueFlags "|"}}) [[ -n $cmd ]] && return ;;
	esac
	if [[ -z $cmd ]]; then
		if [[ $PREFIX == -* ]]; then
			compadd -- -c --config --help
		else
			commands=(
{{- range .Commands}}
				{{quote (printf "%s:%s" .Name (zshDescribe .Summary))}}
{{- end}}
			)
			_describe -t commands 'launcher command' commands
		fi
		return
	fi
	if [[ $PREFIX == -* ]]; then
		case $cmd in
{{- range .Commands}}
		({{.Name}}) compadd -- {{flagWords .Flags}} ;;
{{- end}}
		esac
		return
	fi
	case $cmd in
	({{join .Names "|"}}) names=(${(f)"$(${words[1]} $cfg __complete-names 2>/dev/null)"}); compadd -a names ;;
	(signal)
		if ((nops == 0)); then
			compadd -- {{join .Signals " "}}
		else
			names=(${(f)"$(${words[1]} $cfg __complete-names 2>/dev/null)"}); compadd -a names
		fi ;;
	(help) ((nops == 0)) && compadd -- {{commandWords .Commands " "}} ;;
	(completion) ((nops == 0)) && compadd -- bash zsh fish ;;
	esac
}

if [[ ${funcstack[1]} == _launcher ]]; then
	_launcher "$@"
else
	compdef _launcher launcher
fi
`

const fishCompletion = `# fish completion for launcher, made by "launcher completion fish".
# Install it with: launcher completion fish > ~/.config/fish/completions/launcher.fish
# Daemon names come from "launcher [-c FILE] __complete-names".

# __launcher_scan reads the command line so far into __launcher_cmd (the
# command), __launcher_nops (operands after it) and __launcher_cfg (-c FILE).
function __launcher_scan
	set -l tokens (commandline -opc)
	set -g __launcher_cmd ''
	set -g __launcher_nops 0
	set -g __launcher_cfg
	set -l i 2
	while test $i -le (count $tokens)
		set -l t $tokens[$i]
		if test -z "$__launcher_cmd"
			switch $t
				case -c -config --config
					set i (math $i + 1)
					set -g __launcher_cfg -c $tokens[$i]
				case '-c=*' '-config=*' '--config=*'
					set -g __launcher_cfg $t
				case '-*'
				case '*'
					set -g __launcher_cmd $t
			end
		else
			switch $t
				case {{join .ValueFlags " "}}
					set i (math $i + 1)
				case '-*'
				case '*'
					set -g __launcher_nops (math $__launcher_nops + 1)
			end
		end
		set i (math $i + 1)
	end
end

# __launcher_is CMD... : the command is one of CMD.
function __launcher_is
	__launcher_scan
	contains -- "$__launcher_cmd" $argv
end

function __launcher_names
	__launcher_scan
	set -l tokens (commandline -opc)
	$tokens[1] $__launcher_cfg __complete-names 2>/dev/null
end

complete -c launcher -f
complete -c launcher -n 'not __launcher_is {{commandWords .Commands " "}}' -s c -l config -r -F -d 'config file'
{{- range .Commands}}
complete -c launcher -n 'not __launcher_is {{commandWords $.Commands " "}}' -a {{.Name}} -d {{quote .Summary}}
{{- end}}
complete -c launcher -n '__launcher_is {{join .Names " "}}' -a '(__launcher_names)'
complete -c launcher -n '__launcher_is signal; and test $__launcher_nops -eq 0' -a {{quote (join .Signals " ")}}
complete -c launcher -n '__launcher_is signal; and test $__launcher_nops -gt 0' -a '(__launcher_names)'
complete -c launcher -n '__launcher_is help; and test $__launcher_nops -eq 0' -a {{quote (commandWords .Commands " ")}}
complete -c launcher -n '__launcher_is completion; and test $__launcher_nops -eq 0' -a 'bash zsh fish'
{{- range $c := .Commands}}
{{- range .Flags}}
complete -c launcher -n '__launcher_is {{$c.Name}}' {{if eq (len .Name) 1}}-s{{else}}-l{{end}} {{.Name}}{{if .Value}} -r{{end}} -d {{quote .Usage}}
{{- end}}
{{- end}}
`
