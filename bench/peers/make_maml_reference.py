#!/usr/bin/python3
"""Write tests/data/nn/maml_reference.json: a float64 reference state made by PyTorch autograd.

The C++ engine's tests read this file and compare their own loss, gradient, Hessian-vector
product, MAML / first-order MAML / Meta-SGD meta-gradients and ProtoNet gradient with it.

Conventions (they are the C++ engine's, see docs/peers.md):
  * MLP d0 -> d1 -> ... -> dL, ReLU on hidden layers, linear output (logits).
  * ONE flat parameter vector theta = concat over layers l of [W_l, b_l], where W_l has shape
    (out, in) like torch.nn.Linear.weight and is stored COLUMN-MAJOR: element (i, j) at
    offset i + j*out, i.e. flat W_l = weight.t().contiguous().reshape(-1).
  * Loss: softmax cross-entropy, mean over the batch; binary: sigmoid BCE, one output, mean.
  * MAML: theta_{s+1} = theta_s - alpha * grad L_support(theta_s), S steps;
    meta-loss = L_query(theta_S); meta-gradient = d meta-loss / d theta_0 (exact).
  * Meta-SGD: the same with alpha a per-parameter vector; also d meta-loss / d alpha.
  * ProtoNet: logits = -||f(x_query) - mean_c f(x_support of class c)||^2, cross-entropy (mean).

Run:  /usr/bin/python3 bench/peers/make_maml_reference.py [--out tests/data/nn/maml_reference.json]
(Debian's python3-torch; the output is deterministic for a given PyTorch version.)
"""

import argparse
import json
import math
import os
import sys

import torch

torch.set_default_dtype(torch.float64)

SEED = 20261129
NUM_CLASSES = 3
SUPPORT_PER_CLASS = 5
QUERY_PER_CLASS = 7
INPUT_DIM = 6
MLP_SIZES = [6, 8, 8, 3]
BINARY_SIZES = [6, 8, 8, 1]
PROTONET_SIZES = [6, 8, 4]
ALPHA = 0.1
STEP_COUNTS = [1, 5]
METASGD_ALPHA_RANGE = (0.05, 0.15)


# ----------------------------------------------------------------------------- the model

def parameter_count(sizes):
    return sum(sizes[l + 1] * sizes[l] + sizes[l + 1] for l in range(len(sizes) - 1))


def unflatten(theta, sizes):
    """Views (weight (out, in), bias (out)) into the flat vector, C++ layout."""
    layers, offset = [], 0
    for l in range(len(sizes) - 1):
        fan_in, fan_out = sizes[l], sizes[l + 1]
        # Column-major (out, in) == row-major (in, out); transpose gives torch's (out, in).
        weight = theta[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out).t()
        offset += fan_in * fan_out
        bias = theta[offset:offset + fan_out]
        offset += fan_out
        layers.append((weight, bias))
    assert offset == theta.numel()
    return layers


def flatten(layers):
    """Inverse of unflatten: [(weight (out, in), bias)] -> flat C++ layout."""
    parts = []
    for weight, bias in layers:
        parts.append(weight.t().contiguous().reshape(-1))
        parts.append(bias.reshape(-1))
    return torch.cat(parts)


def mlp_forward(theta, sizes, x):
    h = x
    layers = unflatten(theta, sizes)
    for l, (weight, bias) in enumerate(layers):
        h = torch.nn.functional.linear(h, weight, bias)
        if l + 1 < len(layers):
            h = torch.relu(h)
    return h


def cross_entropy_loss(theta, sizes, x, y):
    return torch.nn.functional.cross_entropy(mlp_forward(theta, sizes, x), y)


def binary_cross_entropy_loss(theta, sizes, x, y):
    logits = mlp_forward(theta, sizes, x).reshape(-1)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))


def protonet_loss(theta, sizes, x_support, y_support, x_query, y_query, num_classes):
    support_embedding = mlp_forward(theta, sizes, x_support)
    query_embedding = mlp_forward(theta, sizes, x_query)
    prototypes = torch.stack([support_embedding[y_support == c].mean(dim=0)
                              for c in range(num_classes)])
    squared_distance = ((query_embedding[:, None, :] - prototypes[None, :, :]) ** 2).sum(dim=2)
    return torch.nn.functional.cross_entropy(-squared_distance, y_query)


# ----------------------------------------------------------------------------- algorithms

def inner_loop(theta0, alpha, steps, support_loss, create_graph):
    theta = theta0
    for _ in range(steps):
        (gradient,) = torch.autograd.grad(support_loss(theta), theta, create_graph=create_graph)
        theta = theta - alpha * gradient
    return theta


def maml(theta, alpha, steps, support_loss, query_loss):
    theta0 = theta.detach().clone().requires_grad_(True)
    adapted = inner_loop(theta0, alpha, steps, support_loss, create_graph=True)
    meta_loss = query_loss(adapted)
    (meta_grad,) = torch.autograd.grad(meta_loss, theta0)
    # First-order MAML: gradient of the query loss at theta_S, no trajectory Jacobian.
    adapted_fo = inner_loop(theta0, alpha, steps, support_loss, create_graph=False).detach()
    adapted_fo.requires_grad_(True)
    (fo_grad,) = torch.autograd.grad(query_loss(adapted_fo), adapted_fo)
    return meta_loss.item(), meta_grad, fo_grad


def metasgd(theta, alpha_vector, steps, support_loss, query_loss):
    theta0 = theta.detach().clone().requires_grad_(True)
    alpha = alpha_vector.detach().clone().requires_grad_(True)
    adapted = inner_loop(theta0, alpha, steps, support_loss, create_graph=True)
    meta_loss = query_loss(adapted)
    grad_theta, grad_alpha = torch.autograd.grad(meta_loss, (theta0, alpha))
    return meta_loss.item(), grad_theta, grad_alpha


def loss_grad_hvp(theta, loss_fn, v):
    theta0 = theta.detach().clone().requires_grad_(True)
    loss = loss_fn(theta0)
    (gradient,) = torch.autograd.grad(loss, theta0, create_graph=True)
    (hvp,) = torch.autograd.grad(gradient @ v, theta0)
    return loss.item(), gradient.detach(), hvp


# ----------------------------------------------------------------------------- self-checks

def central_difference_gradient(fn, x, eps=1e-6):
    x = x.detach()
    out = torch.empty_like(x)
    for i in range(x.numel()):
        e = torch.zeros_like(x)
        e[i] = eps
        out[i] = (fn(x + e) - fn(x - e)) / (2 * eps)
    return out


def relative_error(a, b):
    return ((a - b).norm() / max((a + b).norm().item(), 1e-300)).item()


def check(name, exact, approx, tolerance=1e-6):
    error = relative_error(exact, approx)
    if not error <= tolerance:
        sys.exit(f"make_maml_reference: self-check {name} failed: relative error {error:.3g}")
    return error


# ----------------------------------------------------------------------------- data

def kaiming_theta(sizes, generator):
    layers = []
    for l in range(len(sizes) - 1):
        fan_in, fan_out = sizes[l], sizes[l + 1]
        weight = torch.randn(fan_out, fan_in, generator=generator) * math.sqrt(2.0 / fan_in)
        # Non-zero biases so that bias gradients and ReLU kinks are exercised.
        bias = torch.randn(fan_out, generator=generator) * 0.1
        layers.append((weight, bias))
    return flatten(layers)


def gaussian_clusters(means, per_class, generator):
    num_classes, dim = means.shape
    y = torch.arange(num_classes).repeat_interleave(per_class)
    x = means[y] + torch.randn(y.numel(), dim, generator=generator)
    order = torch.randperm(y.numel(), generator=generator)   # classes interleaved
    return x[order], y[order]


# ----------------------------------------------------------------------------- JSON

def rows(t):
    return [[float(v) for v in row] for row in t.tolist()]


def flat(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def ints(t):
    return [int(v) for v in t.tolist()]


def dump(value, indent=0):
    """JSON with one line per number array / matrix row; floats in shortest round-trip form."""
    pad = "  " * indent
    if isinstance(value, dict):
        items = [f'{pad}  {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and isinstance(value[0], list):
        inner = [pad + "  " + dump(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(inner) + "\n" + pad + "]"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        inner = [pad + "  " + dump(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(inner) + "\n" + pad + "]"
    if isinstance(value, list):
        return "[" + ", ".join(dump(v, indent) for v in value) + "]"
    if isinstance(value, float):
        if not math.isfinite(value):
            sys.exit("make_maml_reference: non-finite value")
        return repr(value)
    return json.dumps(value)


# ----------------------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--out", default=os.path.join(root, "tests", "data", "nn",
                                                      "maml_reference.json"))
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(SEED)
    theta = kaiming_theta(MLP_SIZES, generator)
    means = torch.randn(NUM_CLASSES, INPUT_DIM, generator=generator) * 1.5
    x_support, y_support = gaussian_clusters(means, SUPPORT_PER_CLASS, generator)
    x_query, y_query = gaussian_clusters(means, QUERY_PER_CLASS, generator)
    lo, hi = METASGD_ALPHA_RANGE
    metasgd_alpha = lo + (hi - lo) * torch.rand(theta.numel(), generator=generator)
    v = torch.randn(theta.numel(), generator=generator)
    binary_theta = kaiming_theta(BINARY_SIZES, generator)
    binary_y = (y_support == 0).to(torch.int64)          # class 0 vs the rest
    binary_v = torch.randn(binary_theta.numel(), generator=generator)
    protonet_theta = kaiming_theta(PROTONET_SIZES, generator)
    assert theta.numel() == parameter_count(MLP_SIZES)

    # Layout self-check: flat C++ layout round-trips through torch.nn.Linear-shaped views.
    assert torch.equal(flatten(unflatten(theta, MLP_SIZES)), theta)

    def support_loss(t):
        return cross_entropy_loss(t, MLP_SIZES, x_support, y_support)

    def query_loss(t):
        return cross_entropy_loss(t, MLP_SIZES, x_query, y_query)

    errors = {}
    maml_cases = []
    for steps in STEP_COUNTS:
        meta_loss, meta_grad, fo_grad = maml(theta, ALPHA, steps, support_loss, query_loss)
        ms_loss, ms_grad_theta, ms_grad_alpha = metasgd(theta, metasgd_alpha, steps,
                                                        support_loss, query_loss)

        def whole_maml(t, steps=steps):
            t = t.detach()
            for _ in range(steps):
                t = t.requires_grad_(True)
                (g,) = torch.autograd.grad(support_loss(t), t)
                t = (t - ALPHA * g).detach()
            return query_loss(t).item()

        def whole_metasgd(a, steps=steps):
            t = theta.detach()
            for _ in range(steps):
                t = t.requires_grad_(True)
                (g,) = torch.autograd.grad(support_loss(t), t)
                t = (t - a * g).detach()
            return query_loss(t).item()

        errors[f"maml S={steps}"] = check(f"maml S={steps}", meta_grad,
                                          central_difference_gradient(whole_maml, theta))
        errors[f"metasgd alpha S={steps}"] = check(
            f"metasgd alpha S={steps}", ms_grad_alpha,
            central_difference_gradient(whole_metasgd, metasgd_alpha))
        if steps == 1:
            # For one step the Meta-SGD theta-gradient with alpha == ALPHA everywhere is MAML's.
            same = metasgd(theta, torch.full_like(theta, ALPHA), 1, support_loss, query_loss)[1]
            errors["metasgd(const alpha)==maml S=1"] = check("metasgd==maml", meta_grad, same,
                                                             1e-12)
        maml_cases.append({
            "sizes": MLP_SIZES,
            "alpha": ALPHA,
            "steps": steps,
            "theta": flat(theta),
            "x_support": rows(x_support),
            "y_support": ints(y_support),
            "x_query": rows(x_query),
            "y_query": ints(y_query),
            "meta_loss": meta_loss,
            "meta_grad": flat(meta_grad),
            "first_order_meta_grad": flat(fo_grad),
            "metasgd_alpha": flat(metasgd_alpha),
            "metasgd_meta_loss": ms_loss,
            "metasgd_grad_theta": flat(ms_grad_theta),
            "metasgd_grad_alpha": flat(ms_grad_alpha),
        })

    loss, grad, hvp = loss_grad_hvp(theta, support_loss, v)
    errors["grad"] = check("grad", grad, central_difference_gradient(
        lambda t: support_loss(t).item(), theta))
    errors["hvp"] = check("hvp", hvp, central_difference_gradient(
        lambda t: (torch.autograd.grad(support_loss(t.requires_grad_(True)), t)[0] @ v).item(),
        theta))

    def binary_loss(t):
        return binary_cross_entropy_loss(t, BINARY_SIZES, x_support, binary_y)

    b_loss, b_grad, b_hvp = loss_grad_hvp(binary_theta, binary_loss, binary_v)
    errors["binary grad"] = check("binary grad", b_grad, central_difference_gradient(
        lambda t: binary_loss(t).item(), binary_theta))

    def proto_loss(t):
        return protonet_loss(t, PROTONET_SIZES, x_support, y_support, x_query, y_query,
                             NUM_CLASSES)

    p_theta = protonet_theta.detach().clone().requires_grad_(True)
    p_loss = proto_loss(p_theta)
    (p_grad,) = torch.autograd.grad(p_loss, p_theta)
    errors["protonet grad"] = check("protonet grad", p_grad, central_difference_gradient(
        lambda t: proto_loss(t).item(), protonet_theta))

    document = {
        "format": "metaids-maml-reference-1",
        "generator": "bench/peers/make_maml_reference.py (PyTorch autograd, float64)",
        "torch_version": torch.__version__,
        "seed": SEED,
        "layout": "theta = concat over layers of [W (out x in, column-major: (i,j) at "
                  "i + j*out), b (out)]; ReLU hidden, linear output; losses are means "
                  "over the batch",
        "self_check_relative_errors": {k: float(f"{e:.3g}") for k, e in errors.items()},
        "maml": maml_cases,
        "loss_grad_hvp": {
            "description": "softmax cross-entropy on the support batch of maml[0] at its theta",
            "sizes": MLP_SIZES,
            "theta": flat(theta),
            "x": rows(x_support),
            "y": ints(y_support),
            "loss": loss,
            "grad": flat(grad),
            "v": flat(v),
            "hvp": flat(hvp),
        },
        "binary_loss_grad_hvp": {
            "description": "sigmoid binary cross-entropy, one output, labels y (0/1)",
            "sizes": BINARY_SIZES,
            "theta": flat(binary_theta),
            "x": rows(x_support),
            "y": ints(binary_y),
            "loss": b_loss,
            "grad": flat(b_grad),
            "v": flat(binary_v),
            "hvp": flat(b_hvp),
        },
        "protonet": {
            "description": "embedding MLP (ReLU hidden, linear last); logits = -squared "
                           "Euclidean distance to class means of support embeddings; "
                           "cross-entropy mean over the query; gradient flows through "
                           "support and query embeddings",
            "sizes": PROTONET_SIZES,
            "num_classes": NUM_CLASSES,
            "theta": flat(protonet_theta),
            "x_support": rows(x_support),
            "y_support": ints(y_support),
            "x_query": rows(x_query),
            "y_query": ints(y_query),
            "loss": p_loss.item(),
            "grad": flat(p_grad),
        },
    }
    text = dump(document) + "\n"
    json.loads(text)  # valid JSON
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({len(text)} bytes); self-check relative errors: "
          + ", ".join(f"{k} {e:.2g}" for k, e in errors.items()))


if __name__ == "__main__":
    main()
