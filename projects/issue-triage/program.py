"""GitHub issue triage: label a new issue and leave a comment.

Each helper below is one durable call: after a crash the session resumes
without labelling or commenting twice. They return plain data, not PyGithub
objects: smaller to record, and readable in the session log.
"""

import pawflow
import pawflow_github


def on_issue_opened(event):
    repo = event.data.repository.full_name
    number = event.data.issue.number
    author = event.data.issue.user.login
    gh = pawflow_github.client("gh")
    labels = add_label(gh, repo, number, pawflow.vars["TRIAGE_LABEL"])
    print(f"{repo}#{number} labelled {', '.join(labels)}")
    comment(gh, repo, number, f"Thanks @{author}! A maintainer will look at this soon.")
    return {"issue": f"{repo}#{number}", "labels": labels}


@pawflow.activity
def add_label(gh, repo, number, label):
    issue = gh.get_repo(repo).get_issue(number)
    issue.add_to_labels(label)
    return [label]


@pawflow.activity
def comment(gh, repo, number, text):
    return gh.get_repo(repo).get_issue(number).create_comment(text).id
