package docker

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/moby/moby/api/types/container"
)

// TemplateData is what a name template sees of a container (the Corefile's
// `name_template`): {{.Name}}, {{.Labels.app}}, {{.Label "com.dokku.app-name"}},
// {{.Service}}.{{.Project}} and so on. A template that refers to a label
// the container lacks ({{.Labels.app}} or {{.Label "..."}}) fails for it,
// and so does one that gives an empty name: the container gets no name
// from it.
type TemplateData struct {
	Name     string            // container name, without the leading slash
	ID       string            // full ID
	ShortID  string            // 12 hex digits
	Hostname string            // Config.Hostname
	Engine   string            // the engine's NAME
	Labels   map[string]string // all labels
	Project  string            // compose project (com.docker.compose.project)
	Service  string            // compose service (com.docker.compose.service)
	Stack    string            // swarm stack (com.docker.stack.namespace)
}

// Label returns the label key, or an error when the container lacks it (a
// map lookup with "index" would quietly give "").
func (d TemplateData) Label(key string) (string, error) {
	v, ok := d.Labels[key]
	if !ok {
		return "", fmt.Errorf("no label %q", key)
	}
	return v, nil
}

// ParseTemplate parses a name template; missing keys are errors, so that a
// container without the label gets no name rather than "<no value>".
func ParseTemplate(text string) (*template.Template, error) {
	return template.New(text).Option("missingkey=error").Parse(text)
}

func runTemplate(t *template.Template, c container.InspectResponse, labels map[string]string, engine string) (string, error) {
	d := TemplateData{
		Name:    strings.TrimPrefix(c.Name, "/"),
		ID:      c.ID,
		ShortID: c.ID[:min(len(c.ID), shortIDLen)],
		Engine:  engine,
		Labels:  labels,
		Project: labels[labelComposeProject],
		Service: labels[labelComposeService],
		Stack:   labels[labelStackNamespace],
	}
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	if c.Config != nil {
		d.Hostname = c.Config.Hostname
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	name := strings.TrimSpace(b.String())
	if name == "" {
		return "", errors.New("empty name")
	}
	return name, nil
}
