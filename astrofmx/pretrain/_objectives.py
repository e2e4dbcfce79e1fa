"""DINO and MSN objectives from lightly: projection heads, losses and the EMA teacher.

The losses (`lightly.loss.DINOLoss`, `lightly.loss.MSNLoss`), the projection
heads (`lightly.models.modules.heads.DINOProjectionHead`,
``MSNProjectionHead``) and the momentum update
(`lightly.models.utils.update_momentum`) are lightly's; this module only wires
them to an astrofmx backbone and its views.
"""

import copy
import warnings

import torch
from torch import nn

__all__ = []


class _Objective(nn.Module):
    """Student backbone + head, EMA teacher copies, and the loss; ``teacher_backbone`` is what is saved."""

    def __init__(self, backbone, *, objective, out_dim, hidden_dim, bottleneck_dim, n_prototypes,
                 teacher_temp, student_temp):
        from lightly.loss import DINOLoss, MSNLoss
        from lightly.models.modules.heads import DINOProjectionHead, MSNProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        super().__init__()
        self.objective = objective
        dim = backbone.spec.feature_dim
        self.student_backbone = backbone
        if objective == "dino":
            def make_head():
                with warnings.catch_warnings():  # lightly's head uses torch's old weight_norm
                    warnings.filterwarnings("ignore", message=".*weight_norm.* is deprecated", category=FutureWarning)
                    return DINOProjectionHead(dim, hidden_dim, bottleneck_dim, out_dim, freeze_last_layer=1)
            self.criterion = DINOLoss(output_dim=out_dim, teacher_temp=teacher_temp,
                                      warmup_teacher_temp=teacher_temp, student_temp=student_temp)
        else:
            def make_head():
                return MSNProjectionHead(dim, hidden_dim, bottleneck_dim)
            self.prototypes = nn.Linear(bottleneck_dim, n_prototypes, bias=False)
            self.criterion = MSNLoss(temperature=student_temp)
        self.student_head = make_head()
        self.teacher_backbone = copy.deepcopy(backbone)
        self.teacher_head = make_head()  # weight-normed heads cannot be deep-copied
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        deactivate_requires_grad(self.teacher_backbone)
        deactivate_requires_grad(self.teacher_head)
        self.teacher_temp = teacher_temp

    def student_parameters(self):
        params = list(self.student_backbone.parameters()) + list(self.student_head.parameters())
        if self.objective == "msn":
            params += list(self.prototypes.parameters())
        return params

    def update_teacher(self, momentum):
        from lightly.models.utils import update_momentum

        update_momentum(self.student_backbone, self.teacher_backbone, m=momentum)
        update_momentum(self.student_head, self.teacher_head, m=momentum)

    def loss(self, global_views, local_views):
        """``global_views`` (B, G, 3, S, S), ``local_views`` (B, L, 3, s, s) -> scalar loss."""
        n_global, n_local = global_views.shape[1], local_views.shape[1]
        g = global_views.transpose(0, 1).flatten(0, 1)  # view-major: (G*B, 3, S, S)
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_backbone(g)).float()
        student = self.student_head(self.student_backbone(g)).float()
        if n_local:
            loc = local_views.transpose(0, 1).flatten(0, 1)
            student = torch.cat([student, self.student_head(self.student_backbone(loc)).float()])
        if self.objective == "dino":
            return self.criterion(list(teacher.chunk(n_global)), list(student.chunk(n_global + n_local)),
                                  teacher_temp=self.teacher_temp)
        # MSN: the anchors are the student's views other than the first global one (the target's view);
        # the small local views are MSN's focal masks
        batch = global_views.shape[0]
        anchors = student[batch:]
        return self.criterion(anchors, teacher[:batch], self.prototypes.weight.float())
