"""Top-k accuracy in percent, as Dassl's ``compute_accuracy``."""

__all__ = ["compute_accuracy"]


def compute_accuracy(output, target, topk=(1,)):
    """Top-k accuracies (percent) of ``output`` [N, C] against ``target`` [N].

    Returns a list with one 1-element tensor per k. A tuple/list ``output`` (model returning
    several heads) is scored on its first element.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    if output.dim() != 2:
        raise ValueError(f"compute_accuracy() needs output of shape [N, C], got {tuple(output.shape)}")
    target = target.reshape(-1)
    if output.size(0) != target.size(0):
        raise ValueError(f"compute_accuracy(): {output.size(0)} predictions but {target.size(0)} targets")
    maxk = max(topk)
    batch_size = target.size(0)
    _, pred = output.topk(maxk, dim=1, largest=True, sorted=True)  # [N, maxk]
    correct = pred.eq(target.view(-1, 1).to(pred.device))  # [N, maxk]
    res = []
    for k in topk:
        correct_k = correct[:, :k].reshape(-1).float().sum(0, keepdim=True)
        res.append(correct_k.mul_(100.0 / batch_size))
    return res
