"""The graph checks of a workflow: exactly one start state, no dangling transition, every
state reachable from the start, and no cycle that a recipient would loop through instantly
(one made only of onComplete / condition / randomSplit edges, with no delay or event)."""

from __future__ import annotations

from dataclasses import dataclass

from drumbeat.platform.errors import ErrorCode, Problems


@dataclass(frozen=True)
class Edge:
    source: int  # index of the state the transition leaves
    target: str  # key of the state it leads to
    path: tuple[str, ...]  # field path of the target key
    instant: bool  # taken as soon as the source's actions are done


def check_graph(problems: Problems, states: list[dict], edges: list[Edge],
                path: tuple[str, ...]) -> None:
    index: dict[str, int] = {}
    for i, state in enumerate(states):
        key = state["key"]
        if not key:
            continue
        if key in index:
            problems.add(f"Another state has the key {key!r}.", ErrorCode.DUPLICATE,
                         *path, str(i), "key")
        else:
            index[key] = i
    starts = [i for i, state in enumerate(states) if state["start"]]
    if not starts:
        problems.add("Mark exactly one state as the start.", ErrorCode.NO_START, *path)
    for i in starts[1:]:
        problems.add(f"Only one start state: {states[starts[0]]['name']!r} is already the "
                     "start.", ErrorCode.MULTIPLE_STARTS, *path, str(i), "start")
    links: list[tuple[int, int, Edge]] = []
    for edge in edges:
        if not edge.target:
            continue  # already reported as missing
        if edge.target not in index:
            problems.add(f"No state has the key {edge.target!r}.",
                         ErrorCode.DANGLING_TRANSITION, *edge.path)
        else:
            links.append((edge.source, index[edge.target], edge))
    if len(starts) == 1:
        _reachability(problems, states, links, starts[0], path)
    _instant_cycles(problems, states, [link for link in links if link[2].instant])


def _reachability(problems: Problems, states: list[dict], links, start: int,
                  path: tuple[str, ...]) -> None:
    out: dict[int, list[int]] = {}
    for source, target, _ in links:
        out.setdefault(source, []).append(target)
    seen, todo = {start}, [start]
    while todo:
        for target in out.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for i, state in enumerate(states):
        if i not in seen:
            problems.add(f"The state {state['key'] or state['name']!r} cannot be reached from "
                         "the start state.", ErrorCode.UNREACHABLE_STATE, *path, str(i))


def _instant_cycles(problems: Problems, states: list[dict], links) -> None:
    """Report each cycle of instant edges once, at the transition that closes it."""
    out: dict[int, list[tuple[int, Edge]]] = {}
    for source, target, edge in links:
        out.setdefault(source, []).append((target, edge))
    colour: dict[int, int] = {}  # 1: on the current path, 2: done
    reported: set[frozenset[int]] = set()
    for root in range(len(states)):
        if root in colour:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]  # (state, next edge to follow)
        on_path: list[int] = [root]
        colour[root] = 1
        while stack:
            node, position = stack[-1]
            edges = out.get(node, [])
            if position == len(edges):
                stack.pop()
                on_path.pop()
                colour[node] = 2
                continue
            stack[-1] = (node, position + 1)
            target, edge = edges[position]
            if colour.get(target) == 1:
                cycle = on_path[on_path.index(target):]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    names = " → ".join(states[i]["key"] for i in (*cycle, target))
                    problems.add(f"The cycle {names} has no delay or event: a recipient would "
                                 "loop through it instantly.", ErrorCode.INSTANT_CYCLE, *edge.path)
            elif target not in colour:
                colour[target] = 1
                on_path.append(target)
                stack.append((target, 0))
